"""Capture real Cinder's answers to an admin's os-force_delete (issue 16) into tests/realcloud/captures/.

    .venv/bin/python -m tests.realcloud.capture_force_delete

alice (project demo) makes volumes; admin (project admin) force-deletes them: one in error, one attached to a
host, one with a snapshot. Whatever is left it deletes."""

from __future__ import annotations

from tests.realcloud.capture_admin import AdminRig, capture_with


def run(rig: AdminRig) -> None:
    n = 170
    vid = rig.volume("capture-force-delete")
    body = {"os-force_delete": {}}
    rig.capture(n, "force-delete-as-member", "POST", f"/volumes/{vid}/action", body)
    rig.admin_capture(n + 1, "force-delete-extra-key", "POST", f"/volumes/{vid}/action",
                      {"os-force_delete": {}, "reason": "x"})
    attached = rig.volume("capture-force-delete-attached")
    r = rig.call("POST", f"/volumes/{attached}/action",
                 {"os-attach": {"host_name": "cap-host", "mountpoint": "/dev/vdc"}})
    assert r.status_code == 202, r.text
    assert rig.settle(f"/volumes/{attached}") == "in-use"
    rig.admin_capture(n + 2, "force-delete-attached", "POST", f"/volumes/{attached}/action", body)
    snapped = rig.volume("capture-force-delete-snapped")
    r = rig.call("POST", "/snapshots", {"snapshot": {"volume_id": snapped, "name": "cap-fd-snap"}})
    assert r.status_code == 202, r.text
    rig.settle(f"/snapshots/{r.json()['snapshot']['id']}")
    rig.admin_capture(n + 3, "force-delete-with-snapshot", "POST", f"/volumes/{snapped}/action", body)
    r = rig.call("POST", f"/volumes/{vid}/action", {"os-extend": {"new_size": 2}})  # back to a plain case
    rig.settle(f"/volumes/{vid}")
    rig.as_admin = True
    rig.call("POST", f"/volumes/{vid}/action", {"os-reset_status": {"status": "error_extending"}})
    rig.as_admin = False
    rig.admin_capture(n + 4, "force-delete-error-extending", "POST", f"/volumes/{vid}/action", body)
    seq = rig.sequence(f"/volumes/{vid}")
    print("sequence", seq)
    rig.admin_capture(n + 5, "get-volume-after-force-delete", "GET", f"/volumes/{vid}")
    rig.admin_capture(n + 6, "force-delete-unknown-volume", "POST",
                      "/volumes/00000000-0000-4000-8000-000000000000/action", body)


if __name__ == "__main__":
    capture_with(run)
