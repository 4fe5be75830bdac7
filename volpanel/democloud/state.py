"""The demo cloud's whole world: config, seed data, resources, faults and the clock that moves statuses.

Everything lives in one `World` guarded by one re-entrant lock; HTTP handlers and scheduled transitions both
take it, so a transition never interleaves with a half-finished request.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

# IDs derive from names so docs and tests can name them across restarts.
_NS = uuid.UUID("6f1c2a52-3d7e-4a9b-9a41-0d3c2e5b7a10")

MIN_VOLUME_MV = (3, 0)
MAX_VOLUME_MV = (3, 71)
DEFAULT_QUOTA = {"volumes": 10, "snapshots": 10, "gigabytes": 100, "backups": 10, "backup_gigabytes": 1000,
                 "groups": 10, "per_volume_gigabytes": -1}
BACKEND_HOST = "democloud@lvm#lvm"
# The scheduler's pools (GET /scheduler-stats/get_pools): a second back end for admins to migrate to.
BACKEND_POOLS = (BACKEND_HOST, "democloud@lvm-b#lvm-b")
SERVICE_UUID = str(uuid.uuid5(_NS, "cinder-volume"))
COMPUTE_HOST = "democloud-compute"


def stable_uuid(kind: str, name: str) -> str:
    """Dashed UUID for Cinder/Nova/Glance resources, e.g. stable_uuid("volume", "data-01")."""
    return str(uuid.uuid5(_NS, f"{kind}:{name}"))


def stable_hex(kind: str, name: str) -> str:
    """Keystone-style 32-hex id for projects, users and roles."""
    return uuid.uuid5(_NS, f"{kind}:{name}").hex


def now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def iso_db(dt: datetime | None) -> str | None:
    """Cinder/Nova DB timestamps: microseconds are dropped by the database, the suffix stays."""
    return None if dt is None else dt.strftime("%Y-%m-%dT%H:%M:%S.000000")


def iso_micro(dt: datetime) -> str:
    """Timestamps of objects not yet re-read from the database (Cinder's create responses)."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")


def iso_z(dt: datetime | None) -> str | None:
    """Nova servers and Glance images use second precision with a Z."""
    return None if dt is None else dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_request_id() -> str:
    return f"req-{uuid.uuid4()}"


class Clock:
    """Runs callbacks after a delay on one background thread, so statuses move even when no one polls."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self.generation = 0
        self._thread = threading.Thread(target=self._run, name="democloud-clock", daemon=True)
        self._thread.start()

    def after(self, seconds: float, fn: Callable[[], None]) -> None:
        """Run fn (under the world lock) after `seconds`; 0 runs it now, in the caller's thread."""
        if seconds <= 0:
            with self._lock:
                fn()
            return
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + seconds, next(self._seq), self.generation, fn))
            self._cond.notify()

    def cancel_all(self) -> None:
        """Forget pending transitions (a reset must not be overwritten by an old extend finishing)."""
        with self._cond:
            self.generation += 1
            self._heap.clear()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    timeout = None if not self._heap else self._heap[0][0] - time.monotonic()
                    self._cond.wait(timeout)
                _, _, generation, fn = heapq.heappop(self._heap)
                if generation != self.generation:
                    continue
            with self._lock:
                try:
                    fn()
                except Exception:  # one broken transition must not stop every later one
                    traceback.print_exc(file=sys.stderr)


class World:
    """All mutable state of the demo cloud."""

    def __init__(self, delay: float = 3.0, token_ttl: int = 3600, snapshot_upload: bool = True,
                 without: tuple[str, ...] = (), tenants: int = 0) -> None:
        self.lock = threading.RLock()
        self.clock = Clock(self.lock)
        self.config: dict[str, Any] = {"delay": delay, "token_ttl": token_ttl, "snapshot_upload": snapshot_upload,
                                       "without": sorted(set(without)), "tenants": tenants}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.requests: Counter[str] = Counter()
        self.reset()

    # ---- seed ---------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Restore the seed and clear faults; config and issued tokens survive (IDs are stable anyway)."""
        with self.lock:
            self.clock.cancel_all()
            self.faults: dict[str, Any] = {"backend": {}, "http": []}
            self.requests.clear()
            self._seed_identity()
            self._seed_block_storage()
            self._seed_compute_and_images()

    def _seed_identity(self) -> None:
        self.domain = {"id": "default", "name": "Default"}
        self.projects: dict[str, dict[str, Any]] = {}
        for name, desc in (("demo", "Demo project"), ("other", "Bob's project"), ("admin", "Bootstrap project")):
            pid = stable_hex("project", name)
            self.projects[pid] = {"id": pid, "name": name, "description": desc, "domain_id": "default"}
        self.roles = {name: stable_hex("role", name) for name in ("admin", "member", "reader")}
        self.users: dict[str, dict[str, Any]] = {}
        for name in ("alice", "bob", "admin", "carol"):
            uid = stable_hex("user", name)
            self.users[uid] = {"id": uid, "name": name, "password": "demo", "domain_id": "default"}
        p = self.project_id
        u = self.user_id
        # (user, project, role): admin has admin on its own project and on demo, carol switches projects.
        self.assignments: list[tuple[str, str, str]] = [
            (u("alice"), p("demo"), "member"), (u("bob"), p("other"), "member"),
            (u("admin"), p("admin"), "admin"), (u("admin"), p("demo"), "admin"),
            (u("carol"), p("demo"), "member"), (u("carol"), p("other"), "member"),
        ]
        # Extra tenants for load tests (config `tenants`): user tenantNN, member of project tenantNN.
        for name in self.tenant_names():
            pid, uid = stable_hex("project", name), stable_hex("user", name)
            self.projects[pid] = {"id": pid, "name": name, "description": f"{name}'s project",
                                  "domain_id": "default"}
            self.users[uid] = {"id": uid, "name": name, "password": "demo", "domain_id": "default"}
            self.assignments.append((uid, pid, "member"))

    def tenant_names(self) -> list[str]:
        return [f"tenant{i:02d}" for i in range(1, int(self.config.get("tenants", 0)) + 1)]

    def _seed_block_storage(self) -> None:
        t0 = now() - timedelta(days=10)
        self.volume_types: dict[str, dict[str, Any]] = {}
        for i, (name, desc, specs) in enumerate((
                ("__DEFAULT__", "Default Volume Type", {}),
                ("default", "Standard LVM storage", {}),
                ("gold", "Replicated SSD storage", {"volume_backend_name": "lvm"}))):
            tid = stable_uuid("volume_type", name)
            self.volume_types[tid] = {"id": tid, "name": name, "description": desc, "extra_specs": specs,
                                      "is_public": True, "created_at": t0 + timedelta(minutes=i)}
        self.default_type_name = "default"
        self.quotas = {pid: dict(DEFAULT_QUOTA) for pid in self.projects}
        self.volumes: dict[str, dict[str, Any]] = {}
        self.snapshots: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, dict[str, Any]] = {}
        demo, other = self.project_id("demo"), self.project_id("other")
        alice, bob = self.user_id("alice"), self.user_id("bob")
        # name, project, owner, size (GiB), volume type, bootable, age in days
        seed: tuple[tuple[str, str, str, int, str, bool, int], ...] = (
            ("data-01", demo, alice, 10, "default", False, 9), ("web-root", demo, alice, 20, "default", True, 8),
            ("archive-gold", demo, alice, 5, "gold", False, 7), ("scratch", demo, alice, 1, "default", False, 6),
            ("bob-secret", other, bob, 1, "default", False, 5))
        seed += tuple((f"{name}-data", self.project_id(name), self.user_id(name), 1, "default", False, 4)
                      for name in self.tenant_names())
        for name, pid, uid, size, tname, bootable, age_days in seed:
            created = now() - timedelta(days=age_days)
            self.add_volume(stable_uuid("volume", name), pid, uid, name, size, stable_uuid("volume_type", tname),
                            status="available", created=created, bootable=bootable)
        data01 = stable_uuid("volume", "data-01")
        for name, age_days in (("data-01-snap-mon", 3), ("data-01-snap-tue", 2)):
            created = now() - timedelta(days=age_days)
            self.add_snapshot(stable_uuid("snapshot", name), data01, name, created=created, status="available")

    def _seed_compute_and_images(self) -> None:
        self.images: dict[str, dict[str, Any]] = {}
        cirros = stable_uuid("image", "cirros-0.6.3-x86_64-disk")
        created = now() - timedelta(days=30)
        self.images[cirros] = {
            "id": cirros, "name": "cirros-0.6.3-x86_64-disk", "disk_format": "qcow2", "container_format": "bare",
            "visibility": "public", "size": 21692416, "virtual_size": 117440512, "status": "active",
            "checksum": uuid.uuid5(_NS, "md5:" + cirros).hex, "protected": False, "min_ram": 0, "min_disk": 0,
            "owner": self.project_id("admin"), "os_hidden": False, "os_hash_algo": "sha512",
            "os_hash_value": (uuid.uuid5(_NS, "sha:" + cirros).hex * 4), "created_at": created,
            "updated_at": created, "tags": [], "properties": {}}
        self.servers: dict[str, dict[str, Any]] = {}
        self.instance_actions: dict[str, list[dict[str, Any]]] = {}
        demo, other = self.project_id("demo"), self.project_id("other")
        for name, pid, uname in (("web-1", demo, "alice"), ("db-1", demo, "alice"), ("bob-vm", other, "bob")):
            sid = stable_uuid("server", name)
            created = now() - timedelta(days=12)
            self.servers[sid] = {"id": sid, "name": name, "project_id": pid, "user_id": self.user_id(uname),
                                 "status": "ACTIVE", "created": created, "updated": created, "image_id": cirros,
                                 "flavor_id": "1"}
            self.instance_actions[sid] = [{
                "action": "create", "instance_uuid": sid, "message": None, "project_id": pid,
                "request_id": "req-" + stable_uuid("request", f"create:{name}"), "start_time": created,
                "user_id": self.user_id(uname), "updated_at": created}]
        # web-root is attached by Nova, so a tenant os-detach of it is refused like on a real cloud.
        web1, web_root = stable_uuid("server", "web-1"), stable_uuid("volume", "web-root")
        attached = now() - timedelta(days=7)
        self.attach(web_root, attachment_id=stable_uuid("attachment", "web-root@web-1"), server_id=web1,
                    host_name=None, mountpoint="/dev/vdb", by_nova=True, when=attached)
        self.volumes[web_root]["status"] = "in-use"
        # Made from the cirros image, as a boot volume is: Cinder keeps the image's properties for it.
        self.volumes[web_root]["image_metadata"] = {
            "image_id": cirros, "image_name": self.images[cirros]["name"],
            **{k: str(self.images[cirros][k]) for k in ("checksum", "container_format", "disk_format", "min_disk",
                                                         "min_ram", "size")}}
        self.instance_actions[web1].insert(0, {
            "action": "attach_volume", "instance_uuid": web1, "message": None, "project_id": demo,
            "request_id": "req-" + stable_uuid("request", "attach:web-root"), "start_time": attached,
            "user_id": self.user_id("alice"), "updated_at": attached})

    # ---- lookups ------------------------------------------------------------------------------------------
    def deployed(self, service_type: str) -> bool:
        """Whether this cloud runs the service at all (a storage-only cloud has no compute or image)."""
        return service_type not in self.config["without"]

    def project_id(self, name: str) -> str:
        return stable_hex("project", name)

    def user_id(self, name: str) -> str:
        return stable_hex("user", name)

    def type_by_name(self, name: str) -> dict[str, Any] | None:
        return next((t for t in self.volume_types.values() if t["name"] == name), None)

    def default_type(self) -> dict[str, Any]:
        found = self.type_by_name(self.default_type_name)
        assert found is not None
        return found

    # ---- mutations shared by several services --------------------------------------------------------------
    def add_volume(self, vid: str, project_id: str, user_id: str, name: str | None, size: int, type_id: str,
                   *, status: str, created: datetime | None = None, bootable: bool = False,
                   description: str | None = None, snapshot_id: str | None = None) -> dict[str, Any]:
        created = created or now()
        vol: dict[str, Any] = {
            "id": vid, "project_id": project_id, "user_id": user_id, "name": name, "description": description,
            "size": size, "status": status, "previous_status": None, "volume_type_id": type_id,
            "bootable": bootable, "metadata": {}, "admin_metadata": {}, "image_metadata": {}, "attachments": [],
            "created_at": created, "updated_at": created, "snapshot_id": snapshot_id, "source_volid": None,
            "multiattach": False, "encrypted": False, "availability_zone": "nova", "migration_status": None}
        self.volumes[vid] = vol
        return vol

    def add_snapshot(self, sid: str, volume_id: str, name: str | None, *, status: str,
                     created: datetime | None = None, description: str | None = None) -> dict[str, Any]:
        vol = self.volumes[volume_id]
        created = created or now()
        snap = {"id": sid, "volume_id": volume_id, "project_id": vol["project_id"], "user_id": vol["user_id"],
                "name": name, "description": description, "status": status, "size": vol["size"],
                "volume_size": vol["size"], "metadata": {}, "created_at": created, "updated_at": created}
        self.snapshots[sid] = snap
        return snap

    def attach(self, volume_id: str, *, attachment_id: str, server_id: str | None, host_name: str | None,
               mountpoint: str, by_nova: bool, when: datetime | None = None, mode: str = "rw",
               attach_status: str = "attached") -> dict[str, Any]:
        """Record an attachment; Nova's carry connection info, which is what makes Cinder refuse a tenant detach."""
        vol = self.volumes[volume_id]
        att = {"attachment_id": attachment_id, "server_id": server_id, "host_name": host_name,
               "mountpoint": mountpoint, "attached_at": when or now(), "mode": mode, "by_nova": by_nova,
               "attach_status": attach_status}
        vol["attachments"].append(att)
        vol["admin_metadata"].setdefault("readonly", "False")  # a read-only volume stays so (capture 122)
        vol["admin_metadata"]["attached_mode"] = mode
        vol["updated_at"] = when or now()
        return att

    def detach(self, volume_id: str, attachment_id: str) -> None:
        vol = self.volumes[volume_id]
        vol["attachments"] = [a for a in vol["attachments"] if a["attachment_id"] != attachment_id]
        if not vol["attachments"]:
            vol["admin_metadata"].pop("attached_mode", None)
            vol["status"] = "available"
        vol["updated_at"] = now()

    def record_instance_action(self, server_id: str, action: str, *, request_id: str, user_id: str,
                               project_id: str) -> None:
        # Without Nova, Cinder's volume-extended event goes nowhere and nothing records it.
        if server_id not in self.servers or not self.deployed("compute"):
            return
        t = now()
        self.instance_actions.setdefault(server_id, []).insert(0, {
            "action": action, "instance_uuid": server_id, "message": None, "project_id": project_id,
            "request_id": request_id, "start_time": t, "user_id": user_id, "updated_at": t})

    def gigabytes_used(self, project_id: str) -> int:
        """Cinder counts snapshots against the gigabytes quota too (no_snapshot_gb_quota is off by default)."""
        vols = sum(v["size"] for v in self.volumes.values() if v["project_id"] == project_id)
        snaps = sum(s["size"] for s in self.snapshots.values() if s["project_id"] == project_id)
        return vols + snaps

    def dump(self) -> dict[str, Any]:
        """JSON-friendly copy of everything, for GET /_demo/state."""
        def enc(obj: Any) -> Any:
            if isinstance(obj, datetime):
                return iso_db(obj)
            if isinstance(obj, dict):
                return {k: enc(v) for k, v in obj.items() if k != "password"}
            if isinstance(obj, (list, tuple)):
                return [enc(v) for v in obj]
            return obj

        with self.lock:
            return enc(copy.deepcopy({
                "config": self.config, "faults": self.faults,
                "projects": self.projects, "users": self.users, "roles": self.roles,
                "assignments": [{"user_id": u, "project_id": p, "role": r} for u, p, r in self.assignments],
                "volume_types": self.volume_types, "volumes": self.volumes, "snapshots": self.snapshots,
                "messages": self.messages, "servers": self.servers, "instance_actions": self.instance_actions,
                "images": self.images}))
