"""reconcile_audit resolves rows left pending or accepted, judged against the demo cloud with the service
credential, and a second run changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from tests.conftest import ROOT, Demo, login
from volpanel.audit import actors, reconciler
from volpanel.audit.models import AuditEntry, AuditEvent, Outcome
from volpanel.cloud import cloud_config
from volpanel.lib import memo
from volpanel.openstack import session
from volpanel.openstack.cloud import Cloud
from volpanel.volumes import actions

pytestmark = pytest.mark.django_db(transaction=True)


def row(demo: Demo, name: str, *, age: timedelta, new_size: int, accepted: bool = True,
        actor: Any = None) -> AuditEntry:
    """A row as `_attempt` leaves it, but no watcher follows it (the worker that wrote it is gone)."""
    volume = demo.volume(name)
    actor_id, actor_name = (actor.user_id, actor.user_name) if actor is not None else ("u-alice", "alice")
    entry = AuditEntry(
        actor_id=actor_id, actor_name=actor_name, project_id=volume["project_id"], volume_id=volume["id"],
        volume_name=name, action=actions.EXTEND.name, parameters={"new_size": new_size, "old_size": volume["size"]},
        cloud=cloud_config().auth_url, status_before=volume["status"], requested_at=timezone.now() - age,
    )
    entry.save()
    if accepted:
        entry.advance(Outcome.ACCEPTED, answered_at=timezone.now(), http_status=202, request_id="req-test")
    return entry


def reconcile(*args: str) -> str:
    out = StringIO()
    call_command("reconcile_audit", *args, stdout=out)
    return out.getvalue().strip()


def snapshot() -> list[tuple[Any, ...]]:
    return list(AuditEntry.objects.order_by("id").values_list("id", "outcome", "detail", "settled_at"))


def test_it_resolves_every_left_over_row_and_a_second_run_changes_nothing(demo: Demo, alice: Any) -> None:
    cinder = Cloud.connect(cloud_config(), alice).cinder
    old, recent = timedelta(minutes=10), timedelta(seconds=30)
    lost = row(demo, "scratch", age=old, new_size=2, accepted=False)
    young = row(demo, "scratch", age=recent, new_size=2, accepted=False)
    extended = row(demo, "data-01", age=old, new_size=12)
    cinder.extend(extended.volume_id, 12, in_use=False)
    demo.wait_for("data-01", lambda v: v["status"] == "available" and v["size"] == 12)
    never_done = row(demo, "scratch", age=old, new_size=3)
    demo.config(delay=60)  # archive-gold keeps extending for the rest of the test
    cinder.extend(demo.volume("archive-gold")["id"], 6, in_use=False)
    demo.wait_for("archive-gold", lambda v: v["status"] == "extending")
    stuck = row(demo, "archive-gold", age=timedelta(hours=25), new_size=6)
    moving = row(demo, "archive-gold", age=old, new_size=6)

    summary = reconcile()
    assert summary == ("reconcile_audit: 1 accepted → failed, 1 accepted → succeeded, 1 accepted → unknown, "
                       "1 left: still moving, 1 pending → unknown")
    rows = {e.pk: e for e in AuditEntry.objects.all()}
    assert (rows[lost.pk].outcome, rows[lost.pk].detail) == (Outcome.UNKNOWN, (
        "volpanel stopped between writing this row and the cloud's answer (the worker died or was restarted): "
        "whether Cinder received the request is not known."))
    assert rows[young.pk].outcome == Outcome.PENDING
    assert rows[extended.pk].outcome == Outcome.SUCCEEDED and rows[extended.pk].status_after == "available"
    assert rows[extended.pk].detail == "Settled by the reconciler: The volume is now 12 GiB."
    assert rows[never_done.pk].outcome == Outcome.FAILED and "available at 1 GiB" in rows[never_done.pk].detail
    assert rows[stuck.pk].outcome == Outcome.UNKNOWN
    assert rows[stuck.pk].detail == "The volume was still extending 24 hours after the request."
    assert rows[moving.pk].outcome == Outcome.ACCEPTED
    assert all(rows[pk].settled_at for pk in (lost.pk, extended.pk, never_done.pk, stuck.pk))

    before, events = snapshot(), AuditEvent.objects.count()
    assert reconcile() == "reconcile_audit: 1 left: still moving"
    assert snapshot() == before and AuditEvent.objects.count() == events
    assert reconcile("--grace", "0").endswith("1 pending → unknown")  # the young row, once the grace is waived
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().startswith("OK: ")


def test_it_ends_accepted_rows_as_unknown_without_a_usable_service_credential(demo: Demo, settings: Any) -> None:
    # With no way to look, a row is given up only once every watcher (of any process) has given up on it.
    settings.VOLPANEL_SETTLE_TIMEOUT = 900
    young = row(demo, "data-01", age=timedelta(minutes=10), new_size=11)
    settings.VOLPANEL_SERVICE_USER = ""
    assert reconcile() == "reconcile_audit: 1 left: may still be followed elsewhere"
    assert AuditEntry.objects.get(pk=young.pk).outcome == Outcome.ACCEPTED
    settings.VOLPANEL_SETTLE_TIMEOUT = 60  # older than the settle timeout and the margin, from here on
    missing = young
    assert reconcile() == "reconcile_audit: 1 accepted → unknown"
    assert AuditEntry.objects.get(pk=missing.pk).detail.endswith(
        "no service credential is configured (VOLPANEL_SERVICE_USER, _PASSWORD, _PROJECT) to check the result.")

    refused = row(demo, "data-01", age=timedelta(minutes=10), new_size=11)
    settings.VOLPANEL_SERVICE_USER, settings.VOLPANEL_SERVICE_PASSWORD = "admin", "wrong"
    assert reconcile() == "reconcile_audit: 1 accepted → unknown"
    assert "service credential (admin in admin) was refused" in AuditEntry.objects.get(pk=refused.pk).detail

    not_admin = row(demo, "data-01", age=timedelta(minutes=10), new_size=11)
    settings.VOLPANEL_SERVICE_USER, settings.VOLPANEL_SERVICE_PASSWORD = "alice", "demo"
    settings.VOLPANEL_SERVICE_PROJECT = "demo"
    assert reconcile() == "reconcile_audit: 1 accepted → unknown"
    assert "(alice in demo) has no admin role" in AuditEntry.objects.get(pk=not_admin.pk).detail

    with pytest.raises(CommandError):
        reconcile("--grace", "-1")


def test_it_leaves_accepted_rows_alone_while_keystone_fails(demo: Demo, settings: Any) -> None:
    """A Keystone answering 503 (restarting) has not refused the service credential: no row may end."""
    waiting = row(demo, "data-01", age=timedelta(minutes=10), new_size=11)
    demo.faults(http=[{"service": "identity", "method": "POST", "path": "/auth/tokens", "status": 503}])
    with pytest.raises(CommandError, match="Keystone could not be asked"):
        reconcile()
    assert AuditEntry.objects.get(pk=waiting.pk).outcome == Outcome.ACCEPTED
    demo.clear_faults()
    assert reconcile().startswith("reconcile_audit: 1 accepted → ")
    assert AuditEntry.objects.get(pk=waiting.pk).is_final


def test_a_pending_row_answered_after_the_pass_read_its_id_is_not_the_pass_s_to_end(demo: Demo) -> None:
    first, second = (row(demo, "data-01", age=timedelta(minutes=10), new_size=11, accepted=False) for _ in "12")
    batches = reconciler._batches(AuditEntry.objects.filter(outcome=Outcome.PENDING), size=1)
    assert next(batches).pk == first.pk  # both ids are read now; the second row's batch is fetched later
    second.advance(Outcome.ACCEPTED, answered_at=timezone.now(), http_status=202, request_id="req-late")
    assert list(batches) == []


SEED = """
import sys
import django
django.setup()
from datetime import timedelta
from tests.conftest import ROOT, Demo
from tests.audit.test_reconciler import row
demo = Demo(sys.argv[1])
for _ in range(6):
    row(demo, "scratch", age=timedelta(minutes=10), new_size=1, accepted=False)
for _ in range(4):
    row(demo, "data-01", age=timedelta(minutes=10), new_size=10)
"""


def test_it_moves_each_row_once_when_two_hosts_reconcile_at_once(demo: Demo, tmp_path: Path) -> None:
    # Two processes on one database file, as two hosts would be (the suite's in-memory database cannot be
    # shared between processes, and its shared cache refuses concurrent writers instead of waiting).
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'audit.sqlite3'}",
           "DJANGO_SETTINGS_MODULE": "volpanel.settings"}

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)

    assert manage("migrate", "-v0").returncode == 0
    seeded = subprocess.run([sys.executable, "-c", SEED, demo.base], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert seeded.returncode == 0, seeded.stderr
    hosts = [subprocess.Popen([sys.executable, "manage.py", "reconcile_audit"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    moved: Counter[str] = Counter()
    for host in hosts:
        out, err = host.communicate(timeout=120)
        assert host.returncode == 0, err
        summary = out.strip().removeprefix("reconcile_audit: ")
        if summary == "nothing to do":  # the other host was quicker with every row: allowed, not required
            continue
        for part in summary.split(", "):
            count, what = part.split(" ", 1)
            moved[what] += int(count)
    assert moved["pending → unknown"] == 6 and moved["accepted → succeeded"] == 4
    assert sum(moved.values()) - moved["resolved elsewhere"] == 10
    # One settling event per row: a second move would show in verify_audit as an illegal transition.
    verified = manage("verify_audit")
    assert (verified.returncode, verified.stdout.strip()) == (0, "OK: 24 events, 10 entries"), verified.stderr
    assert manage("reconcile_audit").stdout.strip() == "reconcile_audit: nothing to do"



def extended(demo: Demo, creds: Any, name: str, size: int) -> None:
    Cloud.connect(cloud_config(), creds).cinder.extend(demo.volume(name)["id"], size, in_use=False)
    demo.wait_for(name, lambda v: v["status"] == "available" and v["size"] == size)


def test_it_judges_with_the_actors_own_session_while_valid_and_falls_back_to_the_service_credential(
        demo: Demo, alice: Any, config: Any, settings: Any) -> None:
    auth_url = config.auth_url
    extended(demo, alice, "data-01", 12)
    # No service credential: only alice's own token can settle her row.
    settings.VOLPANEL_SERVICE_USER = ""
    mine = row(demo, "data-01", age=timedelta(minutes=10), new_size=12, actor=alice)
    actors.remember(auth_url, alice)
    assert reconciler.run(300) == Counter({"accepted → succeeded": 1})
    assert AuditEntry.objects.get(pk=mine.pk).detail == (
        "Settled by the reconciler with alice's session: The volume is now 12 GiB.")

    # An expired token is not used: with no service credential the row can only end unknown.
    expired = row(demo, "data-01", age=timedelta(minutes=10), new_size=12, actor=alice)
    actors.remember(auth_url, replace(alice, expires_at=datetime.now(dt_timezone.utc) + timedelta(seconds=30)))
    assert actors.lookup(auth_url, alice.user_id, alice.project_id) is None
    settings.VOLPANEL_SERVICE_USER = "admin"
    assert reconciler.run(300) == Counter({"accepted → succeeded": 1})
    assert AuditEntry.objects.get(pk=expired.pk).detail == "Settled by the reconciler: The volume is now 12 GiB."

    # A revoked token (alice logged out elsewhere): Cinder refuses it, the service credential judges instead,
    # and the dead session is forgotten.
    revoked = login(config, "alice", "demo")
    actors.remember(auth_url, revoked)
    session.revoke(config, revoked)
    refused = row(demo, "data-01", age=timedelta(minutes=10), new_size=12, actor=alice)
    assert reconciler.run(300) == Counter({"accepted → succeeded": 1})
    assert AuditEntry.objects.get(pk=refused.pk).detail == "Settled by the reconciler: The volume is now 12 GiB."
    assert actors.lookup(auth_url, alice.user_id, alice.project_id) is None

    # A failed extend judged with the actor's session says so too.
    settings.VOLPANEL_SERVICE_USER = ""
    again = login(config, "alice", "demo")
    actors.remember(auth_url, again)
    failed = row(demo, "data-01", age=timedelta(minutes=10), new_size=20, actor=alice)
    assert reconciler.run(300) == Counter({"accepted → failed": 1})
    assert AuditEntry.objects.get(pk=failed.pk).detail.startswith(
        "Settled by the reconciler with alice's session: The volume is available at 12 GiB.")
    actors.forget(auth_url, alice.user_id, alice.project_id)
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().startswith("OK: ")


def test_it_reconciles_periodically_in_a_web_process_from_its_first_request(
        demo: Demo, client: Any, settings: Any) -> None:
    lost = row(demo, "scratch", age=timedelta(minutes=10), new_size=2, accepted=False)
    settings.VOLPANEL_RECONCILE_INTERVAL, settings.VOLPANEL_RECONCILE_GRACE = 0.2, 60.0
    try:
        reconciler.start_periodic()  # what request_started calls; here interval 0 in the suite until now
        assert reconciler.running()
        reconciler.stop_periodic()
        assert not reconciler.running()
        client.get("/healthz")
        assert reconciler.running()
        deadline = time.monotonic() + 15
        while AuditEntry.objects.get(pk=lost.pk).outcome == Outcome.PENDING:
            assert time.monotonic() < deadline, "the periodic reconciler never settled the row"
            time.sleep(0.1)
    finally:
        reconciler.stop_periodic()
    assert AuditEntry.objects.get(pk=lost.pk).detail == reconciler.PENDING_REASON
    assert reconciler.totals()["pending → unknown"] >= 1
    memo.clear_all()  # the counts are this process's state: cleared with every memo
    assert reconciler.totals() == Counter()

    settings.VOLPANEL_RECONCILE_INTERVAL = 0.0
    client.get("/healthz")
    assert not reconciler.running()


def test_clearing_every_memo_forgets_remembered_actors_and_leaves_the_periodic_thread_running(
        alice: Any, config: Any, settings: Any) -> None:
    actors.remember(config.auth_url, alice)
    assert actors.lookup(config.auth_url, alice.user_id, alice.project_id) == alice
    settings.VOLPANEL_RECONCILE_INTERVAL = 3600.0
    try:
        reconciler.start_periodic()
        memo.clear_all()
        assert actors.lookup(config.auth_url, alice.user_id, alice.project_id) is None
        assert reconciler.running()
    finally:
        reconciler.stop_periodic()


WEB_PROCESS = """
import json, sys, time
import django
django.setup()
from django.test import Client
from volpanel.audit import reconciler
from volpanel.audit.models import AuditEntry
Client().get("/healthz")  # the first request starts the process's reconciler
deadline = time.monotonic() + 90
while AuditEntry.objects.unsettled().exists() and time.monotonic() < deadline:
    time.sleep(0.1)
reconciler.stop_periodic()
print(json.dumps(reconciler.totals()))
"""


def test_it_moves_each_row_once_when_two_web_processes_reconcile_at_once(demo: Demo, tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'audit.sqlite3'}",
           "DJANGO_SETTINGS_MODULE": "volpanel.settings", "VOLPANEL_RECONCILE_INTERVAL": "1",
           "VOLPANEL_RECONCILE_GRACE": "60"}
    assert subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env,
                          timeout=120).returncode == 0
    seeded = subprocess.run([sys.executable, "-c", SEED, demo.base], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert seeded.returncode == 0, seeded.stderr
    # Slow volume reads, so the two processes' passes overlap.
    demo.faults(http=[{"service": "volume", "method": "GET", "delay": 0.3}])
    processes = [subprocess.Popen([sys.executable, "-c", WEB_PROCESS], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    moved: Counter[str] = Counter()
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        moved.update(json.loads(out))
    assert moved["pending → unknown"] == 6 and moved["accepted → succeeded"] == 4
    assert sum(moved.values()) - moved["resolved elsewhere"] == 10
    verified = subprocess.run([sys.executable, "manage.py", "verify_audit"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
    assert (verified.returncode, verified.stdout.strip()) == (0, "OK: 24 events, 10 entries"), verified.stderr


def test_it_judges_snapshot_rows_by_their_snapshot(demo: Demo) -> None:
    volume = demo.volume("data-01")
    tue = demo.snapshot_id("data-01-snap-tue")

    def left(kind: actions.Audited, snapshot_id: str) -> AuditEntry:
        entry = AuditEntry(actor_id="u-alice", actor_name="alice", project_id=volume["project_id"],
                           volume_id=volume["id"], volume_name="data-01", action=kind.name, parameters={},
                           cloud=cloud_config().auth_url, status_before="available", snapshot_id=snapshot_id,
                           requested_at=timezone.now() - timedelta(minutes=10))
        entry.save()
        entry.advance(Outcome.ACCEPTED, answered_at=timezone.now(), http_status=202, request_id="req-test")
        return entry

    taken = left(actions.SNAPSHOT, tue)
    deleted = left(actions.DELETE_SNAPSHOT, "3fa38c0e-2fa7-4244-aba7-bdf63a609ee7")  # Cinder no longer has it
    kept = left(actions.DELETE_SNAPSHOT, tue)  # the backend put it back to available
    assert reconcile() == "reconcile_audit: 1 accepted → failed, 2 accepted → succeeded"
    rows = {e.pk: (e.outcome, e.detail) for e in AuditEntry.objects.all()}
    assert rows[taken.pk] == (Outcome.SUCCEEDED, "Settled by the reconciler: Snapshot data-01-snap-tue is available.")
    assert rows[deleted.pk] == (Outcome.SUCCEEDED, "Settled by the reconciler: The snapshot was deleted.")
    assert rows[kept.pk][0] == Outcome.FAILED and "Cinder kept the snapshot" in rows[kept.pk][1]
