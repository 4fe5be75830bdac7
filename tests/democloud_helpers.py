"""Start the demo cloud as a real subprocess and talk to it over HTTP, as the dashboard does."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parent.parent
# The derivation docs/democloud.md promises; re-implemented here so the tests check the promise.
SEED_NAMESPACE = uuid.UUID("6f1c2a52-3d7e-4a9b-9a41-0d3c2e5b7a10")


def seed_uuid(kind: str, name: str) -> str:
    return str(uuid.uuid5(SEED_NAMESPACE, f"{kind}:{name}"))


def seed_hex(kind: str, name: str) -> str:
    return uuid.uuid5(SEED_NAMESPACE, f"{kind}:{name}").hex


class DemoCloud:
    """One `python -m volpanel.democloud` process on a free port."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "volpanel.democloud", "--port", "0", *args],
                                     cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.banner: list[str] = []
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"democloud exited: {self.proc.stderr.read() if self.proc.stderr else ''}")
            self.banner.append(line.rstrip("\n"))
            if line.startswith("democloud listening on "):
                self.url = line.split()[-1]
                break
        else:
            raise RuntimeError("democloud did not start in time")
        self.http = requests.Session()

    def stop(self) -> None:
        self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    # ---- control --------------------------------------------------------------------------------------------
    def control(self, method: str, path: str, body: Any = None) -> Any:
        resp = self.http.request(method, f"{self.url}/_demo/{path}", json=body, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    # ---- identity -------------------------------------------------------------------------------------------
    def auth_body(self, user: str, project: str | None, password: str = "demo") -> dict[str, Any]:
        auth: dict[str, Any] = {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": "Default"}, "password": password}}}}
        if project:
            auth["scope"] = {"project": {"name": project, "domain": {"name": "Default"}}}
        return {"auth": auth}

    def login(self, user: str = "alice", project: str | None = "demo") -> Client:
        resp = self.http.post(f"{self.url}/identity/v3/auth/tokens", json=self.auth_body(user, project), timeout=10)
        assert resp.status_code == 201, resp.text
        return Client(self, resp.headers["X-Subject-Token"], resp.json()["token"])


class Client:
    """A logged-in user: finds Cinder through the catalog and speaks with a chosen microversion."""

    def __init__(self, cloud: DemoCloud, token: str, body: dict[str, Any]) -> None:
        self.cloud = cloud
        self.token = token
        self.body = body
        self.project_id: str = body["project"]["id"]
        entry = next(e for e in body["catalog"] if e["type"] == "volumev3")
        self.volume_url: str = next(e["url"] for e in entry["endpoints"] if e["interface"] == "public")

    def request(self, method: str, url: str, *, mv: str | None = None, json: Any = None, data: Any = None,
                headers: dict[str, str] | None = None, params: dict[str, str] | None = None) -> requests.Response:
        hdrs = {"X-Auth-Token": self.token, "Accept": "application/json", **(headers or {})}
        if mv:
            hdrs["OpenStack-API-Version"] = f"volume {mv}"
        return self.cloud.http.request(method, url, json=json, data=data, headers=hdrs, params=params, timeout=10)

    def vol(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.request(method, self.volume_url + path, **kw)

    def compute(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.request(method, f"{self.cloud.url}/compute/v2.1{path}", **kw)

    def image(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.request(method, f"{self.cloud.url}/image/v2{path}", **kw)

    def action(self, volume_id: str, body: Any, mv: str | None = None) -> requests.Response:
        return self.vol("POST", f"/volumes/{volume_id}/action", json=body, mv=mv)

    def volume(self, volume_id: str, mv: str | None = None) -> dict[str, Any]:
        resp = self.vol("GET", f"/volumes/{volume_id}", mv=mv)
        assert resp.status_code == 200, resp.text
        return resp.json()["volume"]

    def snapshot(self, snapshot_id: str) -> dict[str, Any]:
        resp = self.vol("GET", f"/snapshots/{snapshot_id}")
        assert resp.status_code == 200, resp.text
        return resp.json()["snapshot"]


def fault(resp: requests.Response) -> tuple[str, int, str]:
    """(fault name, code, message) of a Cinder/Nova fault body."""
    body = resp.json()
    assert len(body) == 1, body
    name, inner = next(iter(body.items()))
    return name, inner["code"], inner["message"]


def watch(read: Callable[[], Any], until: Callable[[Any], bool], timeout: float = 5.0) -> list[Any]:
    """Poll until `until(value)`; return the distinct successive values seen (the status sequence)."""
    seen: list[Any] = []
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if not seen or seen[-1] != value:
            seen.append(value)
        if until(value):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; saw {seen}")
        time.sleep(0.02)
