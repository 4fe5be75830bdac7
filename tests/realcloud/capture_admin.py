"""Capture real Cinder's answers to an admin's os-reset_status (issue 16) into tests/realcloud/captures/.

    .venv/bin/python tests/realcloud/capture_admin.py [AUTH_URL]

alice (project demo) makes a volume; admin (project admin, so another project than the volume's) resets it
through admin's own project URL, as volpanel's admin pages do; alice's own reset is refused. Every volume it
makes it deletes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from tests.realcloud.capture_snapshots import Rig


class AdminRig(Rig):
    def __init__(self, auth_url: str) -> None:
        super().__init__(auth_url)
        auth = v3.Password(auth_url=auth_url, username="admin", password="demo", project_name="admin",
                           user_domain_name="Default", project_domain_name="Default")
        self.admin = ks_session.Session(auth=auth, timeout=30)
        self.admin_base = self.admin.get_endpoint(service_type="block-storage", interface="public")
        self.as_admin = False

    def call(self, method: str, path: str, body: Any = None, version: str = "3.0") -> Any:
        if not self.as_admin:
            return super().call(method, path, body, version)
        s, base = self.s, self.base
        self.s, self.base = self.admin, self.admin_base
        try:
            return super().call(method, path, body, version)
        finally:
            self.s, self.base = s, base

    def admin_capture(self, number: int, name: str, method: str, path: str, body: Any = None,
                      version: str = "3.0") -> Any:
        self.as_admin = True
        base = self.base
        try:
            self.base = self.admin_base
            r = self.capture(number, name, method, path, body, version)
        finally:
            self.as_admin, self.base = False, base
        # capture() names alice; these were admin's.
        from tests.realcloud.capture_snapshots import OUT
        path_out = next(OUT.glob(f"{number:02d}-{name}.json"))
        path_out.write_text(path_out.read_text().replace("<token of alice>", "<token of admin>")
                            .replace('"as_user": "alice"', '"as_user": "admin"'))
        return r


def capture_with(run: Callable[[AdminRig], None]) -> None:
    """Run one capture script's steps with a fresh rig (Keystone URL from argv) and clean up whatever it made."""
    rig = AdminRig(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000/v3")
    try:
        run(rig)
    finally:
        rig.cleanup()


def run(rig: AdminRig) -> None:
    vid = rig.volume("capture-admin")
    n = 190
    action = f"/volumes/{vid}/action"
    rig.capture(n, "reset-status-as-member", "POST", action, {"os-reset_status": {"status": "error"}})
    rig.admin_capture(n + 1, "reset-status-error-extending-as-admin", "POST", action,
                      {"os-reset_status": {"status": "error_extending"}})
    rig.admin_capture(n + 2, "get-volume-other-project-as-admin", "GET", f"/volumes/{vid}", version="3.71")
    rig.admin_capture(n + 3, "reset-status-unknown-status", "POST", action, {"os-reset_status": {"status": "bogus"}})
    rig.admin_capture(n + 4, "reset-status-deleting", "POST", action, {"os-reset_status": {"status": "deleting"}})
    rig.admin_capture(n + 5, "reset-status-in-use-without-attachments", "POST", action,
                      {"os-reset_status": {"status": "in-use"}})
    rig.admin_capture(n + 6, "reset-status-nothing", "POST", action, {"os-reset_status": {}})
    rig.admin_capture(n + 7, "reset-status-attach-status-attaching", "POST", action,
                      {"os-reset_status": {"attach_status": "attaching"}})
    rig.admin_capture(n + 8, "reset-status-migration-status-bogus", "POST", action,
                      {"os-reset_status": {"migration_status": "bogus"}})
    rig.admin_capture(n + 9, "reset-status-extra-key", "POST", action,
                      {"os-reset_status": {"status": "available", "reason": "x"}})
    rig.admin_capture(n + 10, "reset-status-available-detached-none", "POST", action,
                      {"os-reset_status": {"status": "available", "attach_status": "detached",
                                           "migration_status": "none"}})
    rig.admin_capture(n + 11, "get-volume-after-reset-as-admin", "GET", f"/volumes/{vid}", version="3.71")
    rig.admin_capture(n + 12, "messages-of-volume-as-admin", "GET", f"/messages?resource_uuid={vid}", version="3.5")
    rig.admin_capture(n + 13, "reset-status-unknown-volume", "POST",
                      "/volumes/00000000-0000-4000-8000-000000000000/action",
                      {"os-reset_status": {"status": "available"}})


if __name__ == "__main__":
    capture_with(run)
