"""Capture real Cinder's answers for the snapshot and read-only actions (issue 15) into tests/realcloud/captures/.

    .venv/bin/python tests/realcloud/capture_snapshots.py [AUTH_URL]

Runs against the realcloud rig as alice (project demo); every volume and snapshot it makes it deletes. Each
capture is the request (token masked), the answer and, where the call starts something, the statuses the
resource went through, in the shape of ../shared/cinder/captures/."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

OUT = Path(__file__).resolve().parent / "captures"
TRANSITIONAL = {"creating", "deleting", "attaching", "detaching", "restoring", "reverting"}


class Rig:
    def __init__(self, auth_url: str) -> None:
        auth = v3.Password(auth_url=auth_url, username="alice", password="demo", project_name="demo",
                           user_domain_name="Default", project_domain_name="Default")
        self.s = ks_session.Session(auth=auth, timeout=30)
        self.base = self.s.get_endpoint(service_type="block-storage", interface="public")
        self.made: list[str] = []

    def call(self, method: str, path: str, body: Any = None, version: str = "3.0") -> Any:
        headers = {"OpenStack-API-Version": f"volume {version}"}
        kwargs: dict[str, Any] = {"headers": headers, "raise_exc": False}
        if body is not None:
            kwargs["json"] = body
        started = time.monotonic()
        r = self.s.request(self.base + path, method, **kwargs)
        r.elapsed_ms = round((time.monotonic() - started) * 1000, 1)  # type: ignore[attr-defined]
        return r

    def capture(self, number: int, name: str, method: str, path: str, body: Any = None, version: str = "3.0",
                follow: str = "") -> Any:
        r = self.call(method, path, body, version)
        try:
            answer: Any = r.json()
        except ValueError:
            answer = r.text
        record: dict[str, Any] = {
            "request": {"method": method, "url": self.base + path,
                        "headers": {"OpenStack-API-Version": f"volume {version}", "X-Auth-Token": "<token of alice>"},
                        "body": body, "as_user": "alice"},
            "response": {"status": r.status_code, "reason": r.reason,
                         "headers": {k: v for k, v in r.headers.items() if k.lower() != "date"}, "body": answer},
            "elapsed_ms": r.elapsed_ms, "name": name,
        }
        if follow:
            record[f"{follow.split('/')[1][:-1]}_status_sequence"] = self.sequence(follow)
        OUT.mkdir(exist_ok=True)
        (OUT / f"{number:02d}-{name}.json").write_text(json.dumps(record, indent=2) + "\n")
        print(number, name, r.status_code, json.dumps(answer)[:300])
        return r

    def sequence(self, path: str, timeout: float = 60) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            r = self.call("GET", path)
            status = r.json()[path.split("/")[1][:-1]]["status"] if r.status_code == 200 else f"<{r.status_code}>"
            if not seen or seen[-1]["status"] != status:
                seen.append({"status": status, "t_ms": round((time.monotonic() - started) * 1000)})
            if status not in TRANSITIONAL:
                break
            time.sleep(0.02)
        return seen

    def settle(self, path: str) -> Any:
        return self.sequence(path)[-1]["status"]

    def volume(self, name: str, **extra: Any) -> str:
        r = self.call("POST", "/volumes", {"volume": {"size": 1, "name": name, **extra}})
        assert r.status_code == 202, r.text
        vid = r.json()["volume"]["id"]
        self.made.append(vid)
        assert self.settle(f"/volumes/{vid}") == "available"
        return vid

    def cleanup(self) -> None:
        for vid in reversed(self.made):
            self.settle(f"/volumes/{vid}")
            vol = self.call("GET", f"/volumes/{vid}").json().get("volume") or {}
            for a in vol.get("attachments") or []:
                self.call("POST", f"/volumes/{vid}/action", {"os-detach": {"attachment_id": a["attachment_id"]}})
                self.settle(f"/volumes/{vid}")
            snaps = self.call("GET", f"/snapshots?volume_id={vid}").json()["snapshots"]
            for snap in snaps:
                self.settle(f"/snapshots/{snap['id']}")
                self.call("DELETE", f"/snapshots/{snap['id']}")
            for snap in snaps:
                self.settle(f"/snapshots/{snap['id']}")
            self.call("DELETE", f"/volumes/{vid}")
            self.settle(f"/volumes/{vid}")


def main(auth_url: str) -> None:
    rig = Rig(auth_url)
    try:
        run(rig)
    finally:
        rig.cleanup()


def run(rig: Rig) -> None:
    vid = rig.volume("capture-snap")
    n = 101
    # --- take a snapshot ---
    r = rig.capture(n, "create-snapshot-name-description", "POST", "/snapshots",
                    {"snapshot": {"volume_id": vid, "name": "  cap-snap  ", "description": "taken by volpanel"}})
    sid = r.json()["snapshot"]["id"]
    rig.capture(n + 1, "get-snapshot-after-create", "GET", f"/snapshots/{sid}", follow=f"/snapshots/{sid}")
    rig.capture(n + 2, "create-snapshot-name-256", "POST", "/snapshots",
                {"snapshot": {"volume_id": vid, "name": "x" * 256}})
    rig.capture(n + 3, "create-snapshot-description-256", "POST", "/snapshots",
                {"snapshot": {"volume_id": vid, "description": "x" * 256}})
    rig.capture(n + 4, "create-snapshot-control-characters", "POST", "/snapshots",
                {"snapshot": {"volume_id": vid, "name": "a\u0007b", "description": "line\nbreak"}})
    rig.capture(n + 5, "create-snapshot-force-not-boolean", "POST", "/snapshots",
                {"snapshot": {"volume_id": vid, "force": "maybe"}})
    # in-use: attached to a host through os-attach
    r = rig.call("POST", f"/volumes/{vid}/action", {"os-attach": {"host_name": "cap-host", "mountpoint": "/dev/vdc"}})
    assert r.status_code == 202, r.text
    assert rig.settle(f"/volumes/{vid}") == "in-use"
    rig.capture(n + 6, "create-snapshot-in-use-no-force", "POST", "/snapshots", {"snapshot": {"volume_id": vid}})
    rig.capture(n + 7, "create-snapshot-in-use-force-false-3.66", "POST", "/snapshots",
                {"snapshot": {"volume_id": vid, "force": False}}, "3.66")
    r = rig.capture(n + 8, "create-snapshot-in-use-force", "POST", "/snapshots",
                    {"snapshot": {"volume_id": vid, "name": "cap-forced", "force": True}},
                    follow="")
    forced = r.json()["snapshot"]["id"]
    rig.capture(n + 9, "get-volume-while-forced-snapshot", "GET", f"/volumes/{vid}", follow=f"/snapshots/{forced}")
    # --- delete a snapshot ---
    rig.capture(n + 10, "delete-snapshot", "DELETE", f"/snapshots/{forced}", follow=f"/snapshots/{forced}")
    rig.capture(n + 11, "delete-snapshot-unknown", "DELETE", "/snapshots/3fa38c0e-2fa7-4244-aba7-bdf63a609ee7")
    r = rig.call("POST", "/snapshots", {"snapshot": {"volume_id": vid, "name": "cap-creating", "force": True}})
    creating = r.json()["snapshot"]["id"]
    rig.capture(n + 12, "delete-snapshot-while-creating", "DELETE", f"/snapshots/{creating}")
    rig.settle(f"/snapshots/{creating}")
    # a volume made from the snapshot: does Cinder refuse to delete the snapshot it depends on?
    child = rig.volume("capture-child", snapshot_id=sid)
    rig.capture(n + 13, "get-volume-from-snapshot", "GET", f"/volumes/{child}")
    rig.capture(n + 14, "delete-snapshot-with-dependent-volume", "DELETE", f"/snapshots/{sid}",
                follow=f"/snapshots/{sid}")
    rig.capture(n + 15, "messages-after-dependent-delete", "GET", f"/messages?resource_uuid={sid}", version="3.5")
    # --- read-only flag ---
    rig.capture(n + 16, "update-readonly-in-use", "POST", f"/volumes/{vid}/action",
                {"os-update_readonly_flag": {"readonly": True}})
    rig.capture(n + 17, "update-readonly-true", "POST", f"/volumes/{child}/action",
                {"os-update_readonly_flag": {"readonly": True}})
    rig.capture(n + 18, "get-volume-readonly", "GET", f"/volumes/{child}")
    rig.capture(n + 19, "update-readonly-not-boolean", "POST", f"/volumes/{child}/action",
                {"os-update_readonly_flag": {"readonly": "maybe"}})
    rig.capture(n + 20, "update-readonly-missing", "POST", f"/volumes/{child}/action",
                {"os-update_readonly_flag": {}})
    rig.capture(n + 23, "attach-readonly-volume-rw", "POST", f"/volumes/{child}/action",
                {"os-attach": {"host_name": "cap-host", "mountpoint": "/dev/vdd"}})
    r = rig.call("POST", f"/volumes/{child}/action",
                 {"os-attach": {"host_name": "cap-host", "mountpoint": "/dev/vdd", "mode": "ro"}})
    assert r.status_code == 202, r.text
    rig.settle(f"/volumes/{child}")
    rig.capture(n + 21, "get-volume-readonly-attached", "GET", f"/volumes/{child}", version="3.71")
    rig.capture(n + 22, "update-readonly-false-string", "POST", f"/volumes/{vid}/action",
                {"os-update_readonly_flag": {"readonly": "false"}})


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000/v3")
