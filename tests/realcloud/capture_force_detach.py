"""Capture real Cinder's answers to an admin's os-force_detach (issue 16) into tests/realcloud/captures/.

    .venv/bin/python -m tests.realcloud.capture_force_detach

alice (project demo) attaches a volume to a host (os-attach); admin (project admin) force-detaches it by
attachment id; the refusals around it are captured too. Every volume it makes it deletes."""

from __future__ import annotations

from tests.realcloud.capture_admin import AdminRig, capture_with


def run(rig: AdminRig) -> None:
    vid = rig.volume("capture-force-detach")
    action = f"/volumes/{vid}/action"
    r = rig.call("POST", action, {"os-attach": {"host_name": "cap-host", "mountpoint": "/dev/vdc"}})
    assert r.status_code == 202, r.text
    assert rig.settle(f"/volumes/{vid}") == "in-use"
    attachment = rig.call("GET", f"/volumes/{vid}").json()["volume"]["attachments"][0]["attachment_id"]
    n = 160
    rig.capture(n, "force-detach-as-member", "POST", action, {"os-force_detach": {"attachment_id": attachment}})
    rig.admin_capture(n + 1, "force-detach-unknown-attachment", "POST", action,
                      {"os-force_detach": {"attachment_id": "00000000-0000-4000-8000-000000000000"}})
    rig.admin_capture(n + 2, "force-detach-extra-key", "POST", action,
                      {"os-force_detach": {"attachment_id": attachment, "reason": "x"}})
    rig.admin_capture(n + 3, "force-detach-as-admin", "POST", action,
                      {"os-force_detach": {"attachment_id": attachment, "connector": None}})
    rig.admin_capture(n + 4, "get-volume-after-force-detach", "GET", f"/volumes/{vid}", version="3.71")
    rig.admin_capture(n + 5, "force-detach-not-attached", "POST", action,
                      {"os-force_detach": {"attachment_id": attachment}})


if __name__ == "__main__":
    capture_with(run)
