"""Capture real Cinder's all-projects volume list for an admin (issue 16) into tests/realcloud/captures/.

    .venv/bin/python -m tests.realcloud.capture_admin_list

alice (project demo) makes two volumes and bob (project other) one; admin (project admin) lists every project's
with all_tenants, filtered by project and status, a page at a time with markers. Every volume it makes it
deletes."""

from __future__ import annotations

import sys
from typing import Any

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from tests.realcloud.capture_admin import AdminRig


class ListRig(AdminRig):
    def __init__(self, auth_url: str) -> None:
        super().__init__(auth_url)
        auth = v3.Password(auth_url=auth_url, username="bob", password="demo", project_name="other",
                           user_domain_name="Default", project_domain_name="Default")
        self.bob = ks_session.Session(auth=auth, timeout=30)
        self.bob_base = self.bob.get_endpoint(service_type="block-storage", interface="public")

    def bob_volume(self, name: str) -> str:
        s, base = self.s, self.base
        self.s, self.base = self.bob, self.bob_base
        try:
            return self.volume(name)
        finally:
            self.s, self.base = s, base
            self.made.pop()

    def bob_cleanup(self, vid: str) -> None:
        s, base, made = self.s, self.base, self.made
        self.s, self.base, self.made = self.bob, self.bob_base, [vid]
        try:
            self.cleanup()
        finally:
            self.s, self.base, self.made = s, base, made


def main(auth_url: str) -> None:
    rig = ListRig(auth_url)
    bob = ""
    try:
        bob = run(rig)
    finally:
        rig.cleanup()
        if bob:
            rig.bob_cleanup(bob)


def run(rig: ListRig) -> str:
    rig.volume("capture-list-a")
    second = rig.volume("capture-list-b")
    bob = rig.bob_volume("capture-list-bob")
    demo = rig.base.rsplit("/", 1)[1]
    n = 150
    detail = "/volumes/detail?all_tenants=1"
    first: Any = rig.admin_capture(n, "list-all-projects-limit-2", "GET", f"{detail}&limit=2", version="3.71")
    marker = first.json()["volumes"][-1]["id"]
    rig.admin_capture(n + 1, "list-all-projects-after-marker", "GET", f"{detail}&limit=2&marker={marker}",
                      version="3.71")
    rig.admin_capture(n + 2, "list-all-projects-one-project", "GET", f"{detail}&project_id={demo}", version="3.71")
    rig.admin_capture(n + 3, "list-all-projects-status", "GET", f"{detail}&status=available&limit=1",
                      version="3.71")
    rig.admin_capture(n + 4, "list-all-projects-unknown-marker", "GET",
                      f"{detail}&marker=00000000-0000-4000-8000-000000000000", version="3.71")
    rig.admin_capture(n + 5, "list-without-all-tenants-as-admin", "GET", "/volumes/detail", version="3.71")
    rig.capture(n + 6, "list-all-tenants-as-member", "GET", f"{detail}&limit=5", version="3.71")
    rig.admin_capture(n + 7, "list-all-projects-name", "GET", f"{detail}&name=capture-list-b", version="3.71")
    del second
    return bob


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000/v3")
