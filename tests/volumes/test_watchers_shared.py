"""One poller per volume per deployment (PostgreSQL only): separate volpanel processes against one database and
one demo cloud. Streams in every process get the states while the demo cloud serves the volume GETs of one
poller; killed, the poller is replaced by another process whose streams keep going; a row recorded in a process
that does not poll, and the dead poller's own row, are settled by the watcher that polls."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from django.conf import settings

from tests.conftest import Demo
from tests.live_server import Gunicorn, Tenant, server_env

pytestmark = pytest.mark.skipif(settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
                                reason="sharing one poller between processes needs PostgreSQL (DATABASE_URL)")

INTERVAL = 0.2  # server_env's VOLPANEL_POLL_INTERVAL
VOLUME_GET = "GET /volume/v3/{project_id}/volumes/{volume_id}"


def server_url(name: str) -> str:
    db = settings.DATABASES["default"]
    return f"postgresql://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


@pytest.fixture
def database() -> Iterator[str]:
    name = f"{settings.DATABASES['default']['NAME']}_shared_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(server_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Stream:
    """One SSE stream read in a thread: the status partials it got, as (arrival, status word)."""

    def __init__(self, tenant: Tenant, volume_id: str) -> None:
        self.http = requests.Session()
        self.http.cookies.update(tenant.http.cookies)
        self.url = f"{tenant.base}/volumes/{volume_id}/stream/"
        self.statuses: list[tuple[float, str]] = []
        self.ended = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            with self.http.get(self.url, stream=True, timeout=60) as response:
                event, data = "", []
                for line in response.iter_lines(chunk_size=None, decode_unicode=True):
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        data.append(line[6:])
                    elif not line:
                        text = "\n".join(data)
                        word = next((w for w in ("extending", "retyping", "available") if w in text), "")
                        if event == "status" and word:
                            self.statuses.append((time.monotonic(), word))
                        event, data = "", []
        except requests.RequestException:
            pass
        finally:
            self.ended.set()

    def saw(self, status: str, since: float = 0.0) -> bool:
        return any(at >= since and s == status for at, s in self.statuses)


def wait(condition: Any, what: str, timeout: float = 30, shown: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}" + (f": {shown()}" if shown else "")
        time.sleep(0.05)


class AdminOfDemo:
    """The demo cloud's admin, who sets a volume's status at will (os-reset_status), as an operator can."""

    def __init__(self, demo: Demo) -> None:
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"}, "password": "demo"}}},
            "scope": {"project": {"name": "demo", "domain": {"name": "Default"}}}}}
        answer = requests.post(f"{demo.base}/identity/v3/auth/tokens", json=body, timeout=10)
        answer.raise_for_status()
        self.headers = {"X-Auth-Token": answer.headers["X-Subject-Token"]}
        self.url = f"{demo.base}/volume/v3/{answer.json()['token']['project']['id']}/volumes"

    def set_status(self, volume_id: str, status: str) -> None:
        requests.post(f"{self.url}/{volume_id}/action", json={"os-reset_status": {"status": status}},
                      headers=self.headers, timeout=10).raise_for_status()


def lease_holders(database: str) -> list[int]:
    """The processes holding a watch lease (their lease connection names the process)."""
    with psycopg.connect(server_url(database), autocommit=True) as db:
        rows = db.execute("SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                          "WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE "
                          "'volpanel-watch-%%'").fetchall()
    return sorted(int(name.rsplit("-", 1)[1]) for (name,) in rows)


def outcome(database: str, action: str) -> tuple[str, str]:
    with psycopg.connect(server_url(database), autocommit=True) as db:
        row = db.execute("SELECT outcome, detail FROM volpanel_auditentry WHERE action = %s ORDER BY id DESC "
                         "LIMIT 1", (action,)).fetchone()
    return (row[0], row[1]) if row else ("", "")


@pytest.mark.parametrize("processes", [2, 4])
def test_it_polls_each_volume_from_one_process_and_hands_over_when_it_dies(
        demo: Demo, tmp_path: Path, database: str, processes: int) -> None:
    env = server_env(server_url(database), WEB_CONCURRENCY="1", VOLPANEL_RECONCILE_INTERVAL="0")
    apps = [Gunicorn(env, tmp_path / f"gunicorn-{i}.log") for i in range(processes)]
    try:
        tenants = [Tenant(app.url) for app in apps]
        admin = AdminOfDemo(demo)
        volume_id = demo.volume("data-01")["id"]
        demo.config(delay=600.0)  # a volume stays where the admin puts it
        admin.set_status(volume_id, "extending")
        streams = [Stream(t, volume_id) for t in tenants for _ in range(3)]
        wait(lambda: all(s.saw("extending") for s in streams), "every stream to show extending",
             shown=lambda: [s.statuses for s in streams])

        # Every process watches; one polls. In `window` seconds one poller makes at most a GET per interval
        # (plus the page load of each change): the GETs stay within 1.2x that, where a poller per process
        # would make `processes` times as many.
        (leader,) = lease_holders(database)
        worker_of = {app.workers()[0]: app for app in apps}
        assert leader in worker_of
        requests.delete(f"{demo.base}/_demo/requests", timeout=5).raise_for_status()
        window = 6.0
        time.sleep(window / 2)
        flipped = time.monotonic()
        admin.set_status(volume_id, "retyping")
        time.sleep(window / 2)
        gets = demo.requests_served().get(VOLUME_GET, 0)
        one_poller = window / INTERVAL + 2
        assert 0 < gets <= 1.2 * one_poller, (gets, one_poller)
        wait(lambda: all(s.saw("retyping", flipped) for s in streams), "every stream to show retyping")
        assert lease_holders(database) == [leader]

        # The poller dies: another process takes the lease, and its streams keep getting states.
        os.kill(leader, signal.SIGKILL)
        dead = worker_of[leader]
        wait(lambda: lease_holders(database) not in ([], [leader]), "another process to take the lease")
        (successor,) = lease_holders(database)
        assert successor != leader and successor in worker_of
        survivors = [s for s, t in zip(streams, [t for t in tenants for _ in range(3)], strict=True)
                     if t.base != dead.url]
        flipped = time.monotonic()
        admin.set_status(volume_id, "extending")
        wait(lambda: all(s.saw("extending", flipped) for s in survivors), "the survivors' streams to go on")
        dead.wait_ready()  # gunicorn's master forked a new worker: a process with no watch yet

        # Rows: one recorded by the process that polls (it then dies), one by a process that only follows.
        admin.set_status(volume_id, "available")
        wait(lambda: all(s.ended.is_set() for s in survivors), "the streams to end on the settled volume")
        assert lease_holders(database) == []
        demo.config(delay=10.0)
        poller, follower = tenants[0], tenants[1]
        taken = poller.post(f"/volumes/{volume_id}/snapshot/", {"name": "shared", "description": ""})
        assert taken.status_code == 302, taken.text[:300]
        wait(lambda: len(lease_holders(database)) == 1, "the process that took the action to poll")
        (poller_pid,) = lease_holders(database)
        assert poller_pid == apps[0].workers()[0]
        watching = Stream(follower, volume_id)
        wait(lambda: watching.saw("available"), "the follower's stream to get the poller's state")
        edited = follower.post(f"/volumes/{volume_id}/edit/", {"name": "shared-edit", "description": ""})
        assert edited.status_code == 302, edited.text[:300]
        assert lease_holders(database) == [poller_pid]
        wait(lambda: outcome(database, "volume-update")[0] == "succeeded", "the follower's row to settle")
        assert outcome(database, "snapshot-create")[0] == "accepted"
        os.kill(poller_pid, signal.SIGKILL)
        wait(lambda: lease_holders(database) == [apps[1].workers()[0]], "the follower to take the lease")
        wait(lambda: outcome(database, "snapshot-create")[0] == "succeeded", "the dead poller's row to settle")
        assert not outcome(database, "snapshot-create")[1].startswith("Settled by the reconciler")
        watching.http.close()
    finally:
        for app in apps:
            app.stop()


@pytest.mark.django_db(transaction=True)
def test_it_takes_a_lease_once_and_reads_only_states_signed_by_the_deployment() -> None:
    from volpanel.volumes import leases

    key = leases.key_id(("http://cloud/identity/v3", "project", "volume"))
    assert key == leases.key_id(("http://cloud/identity/v3", "project", "volume"))
    assert key != leases.key_id(("http://cloud/identity/v3", "project", "other"))
    leases.listen(lambda kind, kid: None)
    try:
        assert leases.try_lead(key) and leases.holds(key)
        with psycopg.connect(server_url(settings.DATABASES["default"]["NAME"]), autocommit=True) as other:
            # Another process (connection) cannot take it while this one holds it, and can once it is released.
            assert other.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone() == (False,)
            version = leases.store(key, ("page", False, "", (), "id"))
            stored = leases.load(key)
            assert stored is not None and (stored.version, stored.value) == (version, ("page", False, "", (), "id"))
            # A row written by someone without the deployment's key is never unpickled.
            other.execute("UPDATE volpanel_watch_state SET payload = %s WHERE key = %s",
                          (b"\0" * 32 + b"cos\nsystem\n(S'false'\ntR.", key))
            assert leases.load(key) is None
            leases.release(key)
            assert not leases.holds(key) and leases.load(key) is None
            assert other.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone() == (True,)
    finally:
        leases.unlisten()
