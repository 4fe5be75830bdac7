"""One poller per volume per deployment on PostgreSQL: the lease on a watched volume (a session advisory lock,
released by PostgreSQL when its process or connection dies), the leader's last state in a shared row, and the
LISTEN thread that tells this process's watchers when another process published, wants a state or followed a
new action. SQLite has none of this: each process polls for itself (watchers.py)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import pickle
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections

log = logging.getLogger(__name__)

CHANNEL = "volpanel_watch"
# The notices on CHANNEL, "<kind>:<key id>": the leader stored a new state; a process with viewers of the volume
# wants states (sent every HELLO_SECONDS while it has some); a process recorded an action to follow.
STATE, HELLO, FOLLOW = "state", "hello", "follow"
HELLO_SECONDS = 5.0
Notice = Callable[[str, int], None]

_TABLE = """
CREATE UNLOGGED TABLE IF NOT EXISTS volpanel_watch_state (
    key bigint PRIMARY KEY,
    version bigint NOT NULL,
    payload bytea NOT NULL,
    updated timestamptz NOT NULL DEFAULT now()
)"""
_SEQUENCE = "CREATE SEQUENCE IF NOT EXISTS volpanel_watch_version"
# Serialises the CREATEs of processes starting together (IF NOT EXISTS alone races on the catalog).
_DDL_LOCK = 0x766F6C70616E656C  # "volpanel"


def shared() -> bool:
    """Whether watchers share one poller per volume across processes (the database is PostgreSQL)."""
    return bool(connections["default"].vendor == "postgresql")


def key_id(key: tuple[str, str, str]) -> int:
    """The advisory lock's key for a (cloud, project, volume) watch: 64 bits of a hash, signed as bigint is."""
    digest = hashlib.blake2b("\0".join(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _params() -> dict[str, Any]:
    db = connections["default"].settings_dict
    params: dict[str, Any] = {"dbname": db["NAME"], "autocommit": True, "connect_timeout": 3,
                              "application_name": f"volpanel-watch-{os.getpid()}",
                              # A host that vanishes without closing its socket loses its leases in ~15 s.
                              "options": "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 "
                                         "-c tcp_keepalives_count=5"}
    for ours, theirs in (("user", "USER"), ("password", "PASSWORD"), ("host", "HOST"), ("port", "PORT")):
        if db.get(theirs):
            params[ours] = db[theirs]
    return params


class _Session:
    """This process's connection holding its leases (a forked child opens its own). Lost, it loses every
    lease with it: `holds` then says so and the leaders step down."""

    def __init__(self) -> None:
        self.mutex = threading.Lock()
        self.conn: psycopg.Connection[Any] | None = None
        self.pid = 0
        self.held: Counter[int] = Counter()  # advisory locks are re-entrant per session: counted

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Caller holds mutex."""
        if self.conn is None or self.conn.closed or self.pid != os.getpid():
            self.held.clear()
            self.conn = psycopg.connect(**_params())
            self.pid = os.getpid()
            with self.conn.transaction():
                self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
                self.conn.execute(_TABLE)
                self.conn.execute(_SEQUENCE)
        try:
            cursor = self.conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []
        except psycopg.OperationalError:
            self.conn.close()
            self.held.clear()
            raise


_session = _Session()


def try_lead(kid: int) -> bool:
    """Take the lease on the watch if no process holds it (False: another does). With the database away this
    process polls alone, as on SQLite, rather than leave its viewers without states: the lease counts as held
    until the connection is made again, when the watch asks once more."""
    with _session.mutex:
        try:
            (got,), = _session.execute("SELECT pg_try_advisory_lock(%s)", (kid,))
        except psycopg.Error as exc:
            log.warning("could not ask for a watch lease (%s): polling alone", exc)
            got = True
        if got:
            _session.held[kid] += 1
        return bool(got)


def holds(kid: int) -> bool:
    """Whether this process still holds the lease (its connection was not lost since it took it)."""
    with _session.mutex:
        return _session.held[kid] > 0


def release(kid: int) -> None:
    """Give the lease up and forget the state stored under it (the next leader starts from the cloud)."""
    with _session.mutex:
        if _session.held[kid] <= 0:
            return
        _session.held[kid] -= 1
        try:
            if not _session.held[kid]:
                _session.execute("DELETE FROM volpanel_watch_state WHERE key = %s", (kid,))
            _session.execute("SELECT pg_advisory_unlock(%s)", (kid,))
        except psycopg.Error as exc:
            log.warning("could not release a watch lease (it went with its connection): %s", exc)


def forget(kid: int) -> None:
    """Drop the stored state: it stops being current (the leader polls on for its rows, showing no one)."""
    with _session.mutex:
        try:
            _session.execute("DELETE FROM volpanel_watch_state WHERE key = %s", (kid,))
        except psycopg.Error as exc:
            log.warning("could not drop a watch state: %s", exc)


@dataclass(frozen=True)
class Stored:
    version: int  # from one sequence: never repeats, whichever process stored it
    value: Any


def _sign(data: bytes) -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), data, hashlib.sha256).digest()


def store(kid: int, value: Any) -> int | None:
    """The leader's state for the other processes, and a notice that it changed; the version stored (None
    when the database could not take it: the followers get the next one)."""
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    with _session.mutex:
        try:
            (version,), = _session.execute(
                "WITH s AS (INSERT INTO volpanel_watch_state (key, version, payload) "
                "VALUES (%s, nextval('volpanel_watch_version'), %s) ON CONFLICT (key) DO UPDATE "
                "SET version = EXCLUDED.version, payload = EXCLUDED.payload, updated = now() RETURNING version) "
                "SELECT version FROM s, pg_notify(%s, %s) AS n",
                (kid, _sign(data) + data, CHANNEL, f"{STATE}:{kid}"))
        except psycopg.Error as exc:
            log.warning("could not share a watch state: %s", exc)
            return None
    return int(version)


def load(kid: int) -> Stored | None:
    """The state the leader stored last, if any. Only a row signed with this deployment's key is unpickled."""
    with _session.mutex:
        try:
            rows = _session.execute("SELECT version, payload FROM volpanel_watch_state WHERE key = %s", (kid,))
        except psycopg.Error as exc:
            log.warning("could not read a watch state: %s", exc)
            return None
    if not rows:
        return None
    version, payload = rows[0]
    payload = bytes(payload)
    mac, data = payload[:32], payload[32:]
    if not hmac.compare_digest(mac, _sign(data)):
        log.error("watch state %s is not signed with this deployment's key: ignored", kid)
        return None
    return Stored(int(version), pickle.loads(data))  # noqa: S301 — signed above by this deployment


def notify(kind: str, kid: int) -> None:
    with _session.mutex:
        try:
            _session.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{kind}:{kid}"))
        except psycopg.Error as exc:
            log.warning("could not notify the other processes (%s): %s", kind, exc)


class _Listener:
    """One LISTEN connection per process while it watches volumes, handing each notice to `on_notice` (from its
    own thread). Counted: the last watch to end stops it and closes the lease connection, so an idle process
    keeps no connection open."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.pid = 0
        self.thread: threading.Thread | None = None
        self.stop = threading.Event()
        self.ready = threading.Event()

    def start(self, on_notice: Notice) -> None:
        with self.lock:
            if self.pid != os.getpid():  # a forked child: the parent's thread is not here
                self.pid, self.users, self.thread = os.getpid(), 0, None
            self.users += 1
            if self.users > 1:
                return
            if self.thread is not None:
                self.thread.join()  # the previous one is stopping: at most one listener at a time
            self.stop.clear()
            self.ready.clear()
            self.thread = threading.Thread(target=self._run, args=(on_notice,), name="watch-listener", daemon=True)
            self.thread.start()
        # Notices sent before LISTEN ran would be lost: the first watcher waits (bounded) for it.
        self.ready.wait(5.0)

    def done(self) -> None:
        with self.lock:
            self.users -= 1
            if self.users > 0:
                return
            self.stop.set()
            thread = self.thread
        if thread is not None:
            thread.join(5.0)
        with _session.mutex:
            if _session.conn is not None and not any(n > 0 for n in _session.held.values()):
                _session.conn.close()
                _session.conn = None

    def _run(self, on_notice: Notice) -> None:
        while not self.stop.is_set():
            try:
                with psycopg.connect(**_params()) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.ready.set()
                    while not self.stop.is_set():
                        for notice in conn.notifies(timeout=0.5):
                            kind, _, kid = notice.payload.partition(":")
                            try:
                                on_notice(kind, int(kid))
                            except Exception:
                                log.exception("watch notice %r failed", notice.payload)
            except psycopg.Error as exc:
                log.warning("watch listener lost its connection (%s); reconnecting", exc)
                # Missed notices are made up by the followers' periodic reads and the leaders' periodic looks.
                self.stop.wait(1.0)


_listener = _Listener()


def listen(on_notice: Notice) -> None:
    """Start this process's listener if it does not run (again in a forked child); pair with `unlisten`."""
    _listener.start(on_notice)


def unlisten() -> None:
    """A watch no longer needs the listener: the last one stops it and closes the lease connection."""
    _listener.done()
