"""reconcile_audit resolves rows left pending or accepted, judged against the demo cloud with the service
credential, and a second run changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from tests.conftest import ROOT, Demo
from volpanel import services
from volpanel.models import Action, AuditEntry, AuditEvent, Outcome
from volpanel.openstack.cloud import Cloud

pytestmark = pytest.mark.django_db(transaction=True)


def row(demo: Demo, name: str, *, age: timedelta, new_size: int, accepted: bool = True) -> AuditEntry:
    """A row as `_attempt` leaves it, but no watcher follows it (the worker that wrote it is gone)."""
    volume = demo.volume(name)
    entry = AuditEntry(
        actor_id="u-alice", actor_name="alice", project_id=volume["project_id"], volume_id=volume["id"],
        volume_name=name, action=Action.EXTEND, parameters={"new_size": new_size, "old_size": volume["size"]},
        cloud=services.cloud_config().auth_url, status_before=volume["status"], requested_at=timezone.now() - age,
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
    cinder = Cloud.connect(services.cloud_config(), alice).cinder
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
    missing = row(demo, "data-01", age=timedelta(minutes=10), new_size=11)
    settings.VOLPANEL_SERVICE_USER = ""
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


SEED = """
import sys
import django
django.setup()
from datetime import timedelta
from tests.conftest import ROOT, Demo
from tests.test_reconcile import row
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
        for part in out.strip().removeprefix("reconcile_audit: ").split(", "):
            count, what = part.split(" ", 1)
            moved[what] += int(count)
    assert moved["pending → unknown"] == 6 and moved["accepted → succeeded"] == 4
    assert sum(moved.values()) - moved["resolved elsewhere"] == 10
    # One settling event per row: a second move would show in verify_audit as an illegal transition.
    verified = manage("verify_audit")
    assert (verified.returncode, verified.stdout.strip()) == (0, "OK: 24 events, 10 entries"), verified.stderr
    assert manage("reconcile_audit").stdout.strip() == "reconcile_audit: nothing to do"
