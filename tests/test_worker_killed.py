"""A web worker killed with SIGKILL mid-action: between writing the pending row and Cinder's answer, and
between the 202 and the volume settling. gunicorn's master forks a new worker; `manage.py reconcile_audit`
resolves the rows the dead worker left; each attempt stays one row and one Cinder call."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import requests

from tests.conftest import Demo
from tests.live_server import Gunicorn, Tenant, action_calls, manage, server_env
from volpanel.audit.reconciler import PENDING_REASON


def rows(db_path: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(db_path) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM volpanel_auditentry ORDER BY id")]


def wait(condition: Any, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def kill_worker(app: Gunicorn) -> None:
    (worker,) = app.workers()
    os.kill(worker, signal.SIGKILL)
    wait(lambda: app.workers() not in ([], [worker]), "gunicorn to fork a new worker")
    app.wait_ready()


def reconcile(app: Gunicorn) -> str:
    done = manage(app.env, "reconcile_audit", "--grace", "0")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_it_resolves_a_row_left_pending_by_a_killed_worker(demo: Demo, tmp_path: Path) -> None:
    db_path = tmp_path / "volpanel.sqlite3"
    app = Gunicorn(server_env(f"sqlite:///{db_path}"), tmp_path / "gunicorn.log")
    try:
        tenant = Tenant(app.url)
        volume_id = demo.volume("data-01")["id"]
        # Cinder takes 3 s to answer this one action: the worker dies while it waits.
        demo.faults(http=[{"service": "volume", "method": "POST", "path": "/action", "delay": 3.0, "times": 1}])
        calls = action_calls(demo)
        answers: list[Any] = []

        def post() -> None:
            try:
                answers.append(tenant.post(f"/volumes/{volume_id}/extend/", {"new_size": "11"}))
            except requests.RequestException as exc:
                answers.append(exc)

        poster = threading.Thread(target=post)
        poster.start()
        wait(lambda: action_calls(demo) == calls + 1, "Cinder to receive the action")
        assert [r["outcome"] for r in rows(db_path)] == ["pending"]
        kill_worker(app)
        poster.join(30)
        assert isinstance(answers[0], requests.ConnectionError)  # the browser saw the connection drop
        tenant.http.close()  # its pooled connections went to the dead worker

        # Cinder got the request before the worker died and carries it out.
        demo.wait_for("data-01", lambda v: v["size"] == 11 and v["status"] == "available", timeout=30)
        assert reconcile(app) == "reconcile_audit: 1 pending → unknown"
        (row,) = rows(db_path)
        assert (row["outcome"], row["detail"]) == ("unknown", PENDING_REASON) and row["settled_at"]
        assert action_calls(demo) == calls + 1
        assert reconcile(app) == "reconcile_audit: nothing to do"
        assert tenant.get(f"/volumes/{volume_id}/").status_code == 200
    finally:
        app.stop()


def test_it_judges_rows_left_accepted_by_a_killed_worker(demo: Demo, tmp_path: Path) -> None:
    db_path = tmp_path / "volpanel.sqlite3"
    app = Gunicorn(server_env(f"sqlite:///{db_path}"), tmp_path / "gunicorn.log")
    try:
        tenant = Tenant(app.url)
        demo.config(delay=10.0)  # both volumes keep moving for 10 s after the 202
        demo.faults(backend={"retype": "silent"})
        calls = action_calls(demo)
        extended = tenant.post(f"/volumes/{demo.volume('data-01')['id']}/extend/", {"new_size": "12"})
        retyped = tenant.post(f"/volumes/{demo.volume('scratch')['id']}/retype/",
                              {"new_type": "gold", "migration_policy": "never"})
        assert extended.status_code == retyped.status_code == 302
        assert [r["outcome"] for r in rows(db_path)] == ["accepted", "accepted"]
        assert {demo.volume(n)["status"] for n in ("data-01", "scratch")} == {"extending", "retyping"}
        kill_worker(app)

        assert reconcile(app) == "reconcile_audit: 2 left: still moving"
        demo.wait_for("data-01", lambda v: v["status"] == "available", timeout=30)
        demo.wait_for("scratch", lambda v: v["status"] == "available", timeout=30)
        assert reconcile(app) == "reconcile_audit: 1 accepted → failed, 1 accepted → succeeded"
        extend, retype = rows(db_path)
        assert extend["outcome"] == "succeeded" and "The volume is now 12 GiB." in extend["detail"]
        assert retype["outcome"] == "failed" and "kept the type default" in retype["detail"]
        assert action_calls(demo) == calls + 2 and len(rows(db_path)) == 2
    finally:
        app.stop()
