"""The contract suite's one fixture: a cloud under test, either the embedded demo cloud or the real Keystone +
Cinder + Glance from tests/realcloud/up.sh, with the same helpers on both.

Resources are made through the public APIs (POST /volumes, POST /snapshots, os-attach) exactly the same way on
both clouds, and removed after each test (detach, snapshots, volumes; admin os-reset_status when stuck)."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from volpanel.cloud import cloud_config
from volpanel.openstack import session as vp_session
from volpanel.openstack.cloud import Cloud
from volpanel.openstack.session import CloudConfig, Credentials

REPO = Path(__file__).resolve().parents[2]
REAL_ENV_FILE = REPO / ".cache" / "realcloud" / "env"
PASSWORD = "demo"  # every person's password on both clouds
POLL = 0.05  # real transitional statuses may last ~0.2 s
SETTLE_TIMEOUT = 90.0
TRANSITIONAL = {"creating", "attaching", "detaching", "extending", "retyping", "uploading", "reverting",
                "downloading", "reserved", "deleting", "restoring", "saving", "queued", "importing"}


def mv(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"volume {version}"}


def _read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ")
        key, _, value = line.partition("=")
        env[key.strip()] = value.strip().strip("'\"")
    return env


def _keystone_answers(auth_url: str) -> bool:
    parts = urlsplit(auth_url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 80), timeout=2):
            pass
        return requests.get(auth_url, timeout=5).status_code == 200
    except (OSError, requests.RequestException):
        return False


def real_config_or_skip() -> CloudConfig:
    required = os.environ.get("REALCLOUD_REQUIRED") == "1"
    path = Path(os.environ.get("REALCLOUD_ENV", REAL_ENV_FILE))
    problem = ""
    if not path.is_file():
        problem = f"no realcloud env file at {path}; run tests/realcloud/up.sh"
    else:
        env = _read_env(path)
        if not _keystone_answers(env["OS_AUTH_URL"]):
            problem = f"Keystone does not answer at {env['OS_AUTH_URL']}; run tests/realcloud/up.sh"
    if problem:
        if required:
            pytest.fail(problem)
        pytest.skip(problem)
    return CloudConfig(auth_url=env["OS_AUTH_URL"], region_name=env.get("OS_REGION_NAME") or "RegionOne",
                       interface=env.get("OS_INTERFACE") or "public", timeout=60.0)


@dataclass
class Seen:
    """The distinct statuses a resource went through, polled every POLL seconds, and where it ended."""

    statuses: list[str]
    final: dict[str, Any] | None


@dataclass
class CloudUnderTest:
    name: str
    config: CloudConfig
    _creds: dict[tuple[str, str], Credentials] = field(default_factory=dict)
    _volumes: list[tuple[tuple[str, str], str]] = field(default_factory=list)
    _images: list[tuple[tuple[str, str], str]] = field(default_factory=list)
    _snapshot_second: dict[str, int] = field(default_factory=dict)

    # --- identities ---------------------------------------------------------------------------------------
    def login(self, user: str = "alice", project: str = "demo") -> Credentials:
        key = (user, project)
        if key not in self._creds:
            self._creds[key] = vp_session.login(self.config, user, PASSWORD, project, "Default")
        return self._creds[key]

    def cloud(self, user: str = "alice", project: str = "demo") -> Cloud:
        return Cloud.connect(self.config, self.login(user, project))

    def session(self, user: str = "alice", project: str = "demo") -> Any:
        return vp_session.user_session(self.config, self.login(user, project))

    def volume_url(self, user: str = "alice", project: str = "demo") -> str:
        return self.session(user, project).get_endpoint(
            service_type="block-storage", interface=self.config.interface, region_name=self.config.region_name)

    def project_id(self, user: str = "alice", project: str = "demo") -> str:
        return self.login(user, project).project_id

    # --- raw calls (keystoneauth session, no volpanel client) ------------------------------------------------
    def post_action(self, volume_id: str, body: Any, version: str = "3.0", *, user: str = "alice",
                    project: str = "demo", url_project: str | None = None, raw: bytes | None = None) -> Any:
        base = self.volume_url(user, project)
        if url_project is not None:
            base = base.rsplit("/", 1)[0] + "/" + url_project
        kwargs: dict[str, Any] = {"headers": mv(version), "raise_exc": False}
        if raw is not None:
            kwargs["data"] = raw
            kwargs["headers"] = {**kwargs["headers"], "Content-Type": "application/json"}
        else:
            kwargs["json"] = body
        return self.session(user, project).post(f"{base}/volumes/{volume_id}/action", **kwargs)

    def get_volume(self, volume_id: str, user: str = "alice", project: str = "demo",
                   version: str = "3.0") -> dict[str, Any] | None:
        r = self.session(user, project).get(f"{self.volume_url(user, project)}/volumes/{volume_id}",
                                            headers=mv(version), raise_exc=False)
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        return r.json()["volume"]

    def get_snapshot(self, snapshot_id: str, user: str = "alice", project: str = "demo") -> dict[str, Any] | None:
        r = self.session(user, project).get(f"{self.volume_url(user, project)}/snapshots/{snapshot_id}",
                                            raise_exc=False)
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        return r.json()["snapshot"]

    def get_image(self, image_id: str, user: str = "alice", project: str = "demo") -> dict[str, Any] | None:
        sess = self.session(user, project)
        r = sess.get("/v2/images/" + image_id, endpoint_filter={"service_type": "image",
                                                                "interface": self.config.interface},
                     raise_exc=False)
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        return r.json()

    # --- Compute, raw ---------------------------------------------------------------------------------------
    def nova(self, method: str, path: str, *, version: str = "2.1", user: str = "alice", project: str = "demo",
             json: Any = None) -> Any:
        """A raw Nova call; the compute version header is never shared with a Cinder call (Cinder answers 400)."""
        return self.session(user, project).request(
            path, method, endpoint_filter={"service_type": "compute", "interface": self.config.interface,
                                           "region_name": self.config.region_name},
            headers={"OpenStack-API-Version": f"compute {version}"}, json=json, raise_exc=False)

    def server_id(self, user: str = "alice", project: str = "demo") -> str:
        """The project's ACTIVE server (seeded on both clouds)."""
        servers = self.nova("GET", "/servers/detail", user=user, project=project).json()["servers"]
        return next(s["id"] for s in servers if s["status"] == "ACTIVE")

    def nova_attach(self, volume_id: str, server_id: str, *, version: str = "2.104") -> Seen:
        r = self.nova("POST", f"/servers/{server_id}/os-volume_attachments", version=version,
                      json={"volumeAttachment": {"volumeId": volume_id}})
        assert r.status_code in (200, 202), r.text
        # From 2.101 Nova answers before it reserves: the volume may still show available for a moment.
        seen = self.watch_volume(volume_id, settled=lambda v: v is not None and v["status"] not in
                                 ("available", "reserved", "attaching"))
        assert seen.final and seen.final["status"] == "in-use", seen
        return seen

    def instance_actions(self, server_id: str, action: str, user: str = "alice") -> list[dict[str, Any]]:
        r = self.nova("GET", f"/servers/{server_id}/os-instance-actions", version="2.104", user=user)
        assert r.status_code == 200, r.text
        return [a for a in r.json()["instanceActions"] if a["action"] == action]

    # --- watching ------------------------------------------------------------------------------------------
    @staticmethod
    def watch(get: Callable[[], dict[str, Any] | None], timeout: float = SETTLE_TIMEOUT,
              settled: Callable[[dict[str, Any] | None], bool] | None = None) -> Seen:
        """Poll until the resource leaves the transitional statuses (or `settled` says so)."""
        statuses: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            obj = get()
            status = obj["status"] if obj else "<gone>"
            if not statuses or statuses[-1] != status:
                statuses.append(status)
            done = settled(obj) if settled else status not in TRANSITIONAL
            if done:
                return Seen(statuses, obj)
            if time.monotonic() > deadline:
                raise AssertionError(f"never settled; statuses seen {statuses}, last {obj}")
            time.sleep(POLL)

    def watch_volume(self, volume_id: str, user: str = "alice", project: str = "demo", **kw: Any) -> Seen:
        return self.watch(lambda: self.get_volume(volume_id, user, project), **kw)

    # --- fresh resources -----------------------------------------------------------------------------------
    def make_volume(self, size: int = 1, volume_type: str | None = None, *, user: str = "alice",
                    project: str = "demo") -> str:
        spec: dict[str, Any] = {"size": size, "name": f"contract-{uuid.uuid4().hex[:8]}"}
        if volume_type:
            spec["volume_type"] = volume_type
        r = self.session(user, project).post(f"{self.volume_url(user, project)}/volumes",
                                             json={"volume": spec}, headers=mv("3.0"), raise_exc=False)
        assert r.status_code == 202, r.text
        volume_id = r.json()["volume"]["id"]
        self._volumes.append(((user, project), volume_id))
        seen = self.watch_volume(volume_id, user, project)
        assert seen.final and seen.final["status"] == "available", seen
        return volume_id

    def make_snapshot(self, volume_id: str, *, user: str = "alice", project: str = "demo") -> str:
        """A snapshot in a later second than the volume's previous one: Cinder's database keeps created_at to
        the second, and with two snapshots in one second its "latest" (for revert) is either of them."""
        previous = self._snapshot_second.get(volume_id)
        while previous is not None and int(time.time()) <= previous:
            time.sleep(0.05)
        r = self.session(user, project).post(
            f"{self.volume_url(user, project)}/snapshots",
            json={"snapshot": {"volume_id": volume_id, "name": f"contract-{uuid.uuid4().hex[:8]}"}},
            headers=mv("3.0"), raise_exc=False)
        assert r.status_code == 202, r.text
        snapshot_id = r.json()["snapshot"]["id"]
        seen = self.watch(lambda: self.get_snapshot(snapshot_id, user, project))
        assert seen.final and seen.final["status"] == "available", seen
        self._snapshot_second[volume_id] = int(time.time())
        return snapshot_id

    def attach_host(self, volume_id: str, host_name: str = "contract-host", mountpoint: str = "/dev/vdc",
                    *, user: str = "alice", project: str = "demo") -> str:
        """A host attachment through os-attach; answers the attachment id to detach with."""
        r = self.post_action(volume_id, {"os-attach": {"host_name": host_name, "mountpoint": mountpoint}},
                             user=user, project=project)
        assert r.status_code == 202, r.text
        seen = self.watch_volume(volume_id, user, project)
        assert seen.final and seen.final["status"] == "in-use", seen
        (attachment,) = seen.final["attachments"]
        return attachment["attachment_id"]

    def track_image(self, image_id: str, user: str = "alice", project: str = "demo") -> None:
        self._images.append(((user, project), image_id))

    # --- cleanup -------------------------------------------------------------------------------------------
    def cleanup(self) -> list[str]:
        problems: list[str] = []
        for (user, project), image_id in self._images:
            try:
                self._delete_image(image_id, user, project)
            except Exception as exc:  # noqa: BLE001 - keep cleaning the rest
                problems.append(f"image {image_id}: {exc}")
        for (user, project), volume_id in reversed(self._volumes):
            try:
                self._delete_volume(volume_id, user, project)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"volume {volume_id}: {exc}")
        return problems

    def _delete_image(self, image_id: str, user: str, project: str) -> None:
        seen = self.watch(lambda: self.get_image(image_id, user, project), timeout=60)
        if seen.final is None:
            return
        sess = self.session(user, project)
        r = sess.delete("/v2/images/" + image_id, endpoint_filter={"service_type": "image",
                                                                   "interface": self.config.interface},
                        raise_exc=False)
        assert r.status_code in (204, 404), r.text

    def _admin_reset(self, volume_id: str, **status: str) -> None:
        """Admin's os-reset_status, through admin's own project URL (Cinder's admin sees every project)."""
        r = self.session("admin", "admin").post(
            f"{self.volume_url('admin', 'admin')}/volumes/{volume_id}/action",
            json={"os-reset_status": status}, raise_exc=False)
        assert r.status_code == 202, r.text

    def _delete_volume(self, volume_id: str, user: str, project: str) -> None:
        seen = self.watch_volume(volume_id, user, project, timeout=60)
        volume = seen.final
        if volume is None:
            return
        if volume["status"] not in ("available", "in-use", "error"):
            self._admin_reset(volume_id, status="available")
        for attachment in volume.get("attachments") or []:
            if attachment.get("server_id"):  # Nova's own attachment: only Nova may detach it (409 otherwise)
                r = self.nova("DELETE", f"/servers/{attachment['server_id']}/os-volume_attachments/{volume_id}",
                              user=user, project=project)
                if r.status_code == 202:
                    self.watch_volume(volume_id, user, project, timeout=60)
                    continue
            r = self.post_action(volume_id, {"os-detach": {"attachment_id": attachment["attachment_id"]}},
                                 user=user, project=project)
            if r.status_code != 202:
                self._admin_reset(volume_id, status="available", attach_status="detached")
        base = self.volume_url(user, project)
        sess = self.session(user, project)
        snaps = sess.get(f"{base}/snapshots?volume_id={volume_id}", raise_exc=False).json()["snapshots"]
        for snap in snaps:
            if snap["volume_id"] != volume_id:
                continue
            self.watch(partial(self.get_snapshot, snap["id"], user, project), timeout=60)
            sess.delete(f"{base}/snapshots/{snap['id']}", raise_exc=False)
        for snap in snaps:
            if snap["volume_id"] == volume_id:
                self.watch(partial(self.get_snapshot, snap["id"], user, project), timeout=60,
                           settled=lambda s: s is None or s["status"] == "error_deleting")
        self.watch_volume(volume_id, user, project, timeout=60)
        r = sess.delete(f"{base}/volumes/{volume_id}", raise_exc=False)
        if r.status_code == 400:
            self._admin_reset(volume_id, status="available", attach_status="detached")
            r = sess.delete(f"{base}/volumes/{volume_id}", raise_exc=False)
        assert r.status_code in (202, 404), r.text
        self.watch_volume(volume_id, user, project, timeout=60, settled=lambda v: v is None)


@pytest.fixture(params=["demo", pytest.param("real", marks=pytest.mark.realcloud)])
def cut(request: pytest.FixtureRequest) -> Iterator[CloudUnderTest]:
    """The cloud under test: the same cases run against the demo cloud and the real one."""
    if request.param == "demo":
        request.getfixturevalue("demo")  # a fresh seed, delay 0.3 s

        config = cloud_config()
    else:
        config = real_config_or_skip()
    under_test = CloudUnderTest(request.param, config)
    yield under_test
    from volpanel.volumes import watchers

    watchers.wait_idle(60)  # no watcher from this test may still poll what cleanup deletes
    problems = under_test.cleanup()
    assert not problems, f"cleanup on the {request.param} cloud failed: {problems}"
