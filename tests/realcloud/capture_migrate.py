"""Capture real Cinder's answers around an admin's os-migrate_volume (issue 16) into tests/realcloud/captures/.

    .venv/bin/python -m tests.realcloud.capture_migrate

The rig has one back end, so what is captured is the scheduler's pools and Cinder's refusals (a member, an
unknown host, the volume's own host, a bad flag). Every volume it makes it deletes."""

from __future__ import annotations

from tests.realcloud.capture_admin import AdminRig, capture_with


def run(rig: AdminRig) -> None:
    n = 180
    vid = rig.volume("capture-migrate")
    action = f"/volumes/{vid}/action"
    pools = rig.admin_capture(n, "scheduler-pools-as-admin", "GET", "/scheduler-stats/get_pools?detail=False")
    rig.capture(n + 1, "scheduler-pools-as-member", "GET", "/scheduler-stats/get_pools")
    host = pools.json()["pools"][0]["name"]
    rig.capture(n + 2, "migrate-as-member", "POST", action, {"os-migrate_volume": {"host": host}})
    rig.admin_capture(n + 3, "migrate-unknown-host", "POST", action,
                      {"os-migrate_volume": {"host": "nowhere@lvm#pool"}})
    rig.admin_capture(n + 4, "migrate-same-host", "POST", action,
                      {"os-migrate_volume": {"host": host, "force_host_copy": False, "lock_volume": True}})
    rig.admin_capture(n + 5, "migrate-flag-not-boolean", "POST", action,
                      {"os-migrate_volume": {"host": host, "force_host_copy": "maybe"}})
    rig.admin_capture(n + 6, "migrate-no-host", "POST", action, {"os-migrate_volume": {}})
    rig.admin_capture(n + 7, "get-volume-after-refused-migrate", "GET", f"/volumes/{vid}", version="3.71")


if __name__ == "__main__":
    capture_with(run)
