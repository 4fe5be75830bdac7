"""Shared fixtures: a real demo cloud over HTTP, users logged in through Keystone, and helpers to steer it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from volpanel.cloud import cloud_config

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The suite's own demo cloud, on a free port; live servers started by the suite inherit these variables.
os.environ.pop("OS_AUTH_URL", None)
# No periodic reconciler behind the tests' backs, here or in servers the suite starts: tests that want one
# start it themselves. pytest-django has loaded the settings already, so they are set as well as the variable.
os.environ.setdefault("VOLPANEL_RECONCILE_INTERVAL", "0")


def _no_periodic_reconciler() -> None:
    from django.conf import settings

    settings.VOLPANEL_RECONCILE_INTERVAL = 0.0
    settings.VOLPANEL_AUDIT_DIGEST_INTERVAL = 0.0


_no_periodic_reconciler()
DEMO_PORT = free_port()
os.environ["DEMOCLOUD_PORT"] = str(DEMO_PORT)
DEMO_URL = f"http://127.0.0.1:{DEMO_PORT}"


def start_democloud(port: int, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "volpanel.democloud", "--port", str(port), "--delay", "0.3", *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 20
    assert proc.stdout is not None
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "listening on" in line:
            return proc
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("democloud did not start:\n" + "".join(lines))


@pytest.fixture(scope="session")
def democloud_process() -> Iterator[str]:
    from django.conf import settings

    proc = start_democloud(DEMO_PORT)
    # pytest-django may have read the settings before this module chose the port: point them here.
    settings.OPENSTACK["auth_url"] = f"{DEMO_URL}/identity/v3"
    settings.VOLPANEL_POLL_INTERVAL = 0.1
    yield DEMO_URL
    proc.terminate()
    proc.wait(10)


class Demo:
    """Steers the demo cloud through its control API (test-only switches, as docs/democloud.md lists)."""

    def __init__(self, base: str) -> None:
        self.base = base

    def reset(self) -> None:
        requests.post(f"{self.base}/_demo/reset", timeout=5).raise_for_status()
        requests.delete(f"{self.base}/_demo/faults", timeout=5).raise_for_status()

    def config(self, **values: Any) -> None:
        requests.post(f"{self.base}/_demo/config", json=values, timeout=5).raise_for_status()

    def faults(self, **body: Any) -> None:
        requests.post(f"{self.base}/_demo/faults", json=body, timeout=5).raise_for_status()

    def clear_faults(self) -> None:
        requests.delete(f"{self.base}/_demo/faults", timeout=5).raise_for_status()

    def state(self) -> dict[str, Any]:
        return requests.get(f"{self.base}/_demo/state", timeout=5).json()

    def volume(self, name: str) -> dict[str, Any]:
        state = self.state()
        for volume in state["volumes"].values():
            if volume["name"] == name:
                volume_type = state["volume_types"].get(volume["volume_type_id"], {})
                return {**volume, "volume_type": volume_type.get("name")}
        raise KeyError(name)

    def snapshot_id(self, name: str) -> str:
        return next(s["id"] for s in self.state()["snapshots"].values() if s["name"] == name)

    def server_id(self, name: str) -> str:
        return next(s["id"] for s in self.state()["servers"].values() if s["name"] == name)

    def revoke(self, token: str) -> None:
        """Revoke a token at Keystone, as a role removed or a user disabled does."""
        requests.delete(f"{self.base}/identity/v3/auth/tokens",
                        headers={"X-Auth-Token": token, "X-Subject-Token": token}, timeout=5).raise_for_status()

    def requests_served(self) -> dict[str, int]:
        return requests.get(f"{self.base}/_demo/requests", timeout=5).json()["counts"]

    def quiet(self, still: float = 3.0, timeout: float = 30.0) -> None:
        """Wait until nothing has asked the cloud anything for `still` seconds (a live server from earlier tests
        may still be following a volume), then clear the request counters."""
        deadline, last, since = time.monotonic() + timeout, None, time.monotonic()
        while time.monotonic() < deadline:
            counts = self.requests_served()
            if counts != last:
                last, since = counts, time.monotonic()
            elif time.monotonic() - since >= still:
                break
            time.sleep(0.25)
        requests.delete(f"{self.base}/_demo/requests", timeout=5).raise_for_status()

    def wait_for(self, name: str, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            volume = self.volume(name)
            if predicate(volume):
                return volume
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} never satisfied the condition; last {volume}")
            time.sleep(0.05)


@pytest.fixture
def demo(democloud_process: str) -> Iterator[Demo]:
    from volpanel.lib import memo
    from volpanel.volumes import watchers

    demo = Demo(democloud_process)
    demo.reset()
    # A reset cloud is a new world: nothing volpanel kept of the last one (the project's snapshots, quota…) holds.
    memo.clear_all()
    demo.config(delay=0.3, snapshot_upload=True, without=[], token_ttl=3600)
    yield demo
    # No watcher from this test may outlive it and write into the next one's database.
    watchers.wait_idle(15)


@pytest.fixture
def config() -> Any:

    return cloud_config()


def login(config: Any, user: str, project: str) -> Any:
    from volpanel.openstack import session

    return session.login(config, user, "demo", project, "Default")


@pytest.fixture
def alice(demo: Demo, config: Any) -> Any:
    return login(config, "alice", "demo")


@pytest.fixture
def bob(demo: Demo, config: Any) -> Any:
    return login(config, "bob", "other")


def web_login(client: Any, user: str, project: str = "") -> None:
    response = client.post("/login/", {"username": user, "password": "demo", "project": project, "domain": ""})
    assert response.status_code == 302, response.content[:500]


def token_of(client: Any) -> str:
    """The Keystone token a logged-in test client's session holds (on the server, never in the browser)."""
    return json.loads(json.loads(client.session["volpanel.credentials"])["auth_state"])["auth_token"]


def expire_session_token(client: Any) -> None:
    """Make the session's token look past its expiry, as a session outliving its token is."""
    session = client.session
    creds = json.loads(session["volpanel.credentials"])
    creds["expires_at"] = "2020-01-01T00:00:00+00:00"
    session["volpanel.credentials"] = json.dumps(creds)
    session.save()


@pytest.fixture
def alice_client(demo: Demo, client: Any, transactional_db: Any) -> Any:
    web_login(client, "alice", "demo")
    return client
