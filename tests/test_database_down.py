"""Database busy or unavailable: an action is refused with 503 "try again" before the cloud is called — the
audit row is written before Cinder hears of the action, so no row means no call. Checked against a live
gunicorn with SQLite held locked past its busy timeout, and with PostgreSQL gone (a forwarder in front of the
shared server is stopped; the server itself is never touched)."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import Demo
from tests.live_server import Gunicorn, Tenant, action_calls, server_env
from tests.tcp_proxy import TcpProxy

PG = "postgresql://postgres@127.0.0.1:5432/postgres"


def refused_then_accepted(demo: Demo, app: Gunicorn, tenant: Tenant, rows: Callable[[], int],
                          break_db: Callable[[], None], mend_db: Callable[[], None]) -> None:
    volume_id = demo.volume("data-01")["id"]
    page, action = f"/volumes/{volume_id}/", f"/volumes/{volume_id}/extend/"
    assert tenant.get(page).status_code == 200
    calls = action_calls(demo)
    break_db()
    try:
        plain = tenant.post(action, {"new_size": "11"})
        htmx = tenant.post(action, {"new_size": "11"}, **{"HX-Request": "true", "HX-Current-URL": page})
    finally:
        mend_db()
    for response in (plain, htmx):
        assert response.status_code == 503 and response.headers["Retry-After"] == "5"
        assert "Nothing was sent to the cloud. Try again in a moment" in response.text
        assert "Traceback" not in response.text and "OperationalError" not in response.text
        assert f'href="{page}"' in response.text
    assert "<html" in plain.text and "<html" not in htmx.text and htmx.headers["HX-Retarget"] == "#main"
    assert action_calls(demo) == calls and rows() == 0

    again = tenant.post(action, {"new_size": "11"})
    assert again.status_code == 302 and again.headers["Location"] == page
    assert action_calls(demo) == calls + 1 and rows() == 1
    assert tenant.get(page).status_code == 200


def test_it_refuses_an_action_while_sqlite_is_locked(demo: Demo, tmp_path: Path) -> None:
    db_path = tmp_path / "volpanel.sqlite3"
    app = Gunicorn(server_env(f"sqlite:///{db_path}", VOLPANEL_SQLITE_TIMEOUT="1"), tmp_path / "gunicorn.log")
    locker = sqlite3.connect(db_path, isolation_level=None, timeout=5)
    try:
        tenant = Tenant(app.url)

        def rows() -> int:
            return locker.execute("SELECT count(*) FROM volpanel_auditentry").fetchone()[0]

        # Another writer (a migration, a long export, a stuck process) holds the write lock past the timeout.
        refused_then_accepted(demo, app, tenant, rows, lambda: locker.execute("BEGIN IMMEDIATE"),
                              lambda: locker.execute("ROLLBACK"))
    finally:
        locker.close()
        app.stop()
    assert "database is locked" in (tmp_path / "gunicorn.log").read_text()


@pytest.fixture
def postgres_behind_proxy() -> Iterator[tuple[TcpProxy, str]]:
    name = f"faults_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    proxy = TcpProxy("127.0.0.1", 5432)
    proxy.start()
    try:
        yield proxy, name
    finally:
        proxy.stop()
        with psycopg.connect(PG, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_it_refuses_an_action_while_postgresql_is_unreachable(demo: Demo, tmp_path: Path,
                                                              postgres_behind_proxy: tuple[TcpProxy, str]) -> None:
    proxy, name = postgres_behind_proxy
    app = Gunicorn(server_env(f"postgres://postgres@127.0.0.1:{proxy.port}/{name}"), tmp_path / "gunicorn.log")
    try:
        tenant = Tenant(app.url)

        def rows() -> int:
            with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}") as db:
                return db.execute("SELECT count(*) FROM volpanel_auditentry").fetchone()[0]  # type: ignore[index]

        refused_then_accepted(demo, app, tenant, rows, proxy.stop, proxy.start)
    finally:
        app.stop()
