"""seed_audit inserts realistic synthetic rows whose events chain onto the trail, so verify_audit passes."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count

from tests.audit.test_chain import make, verify
from volpanel.audit import seed as seeding
from volpanel.audit.models import AuditChainHead, AuditEntry, AuditEvent, Outcome
from volpanel.volumes import actions

pytestmark = pytest.mark.django_db(transaction=True)


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_audit", *args, stdout=out)
    return out.getvalue().strip()


def test_it_seeds_mixed_rows_onto_the_chain_and_verify_audit_passes() -> None:
    real = make()  # a row written by the application before the seed: the seed chains after it
    assert seed("2000", "--projects", "4", "--days", "30", "--batch", "700").startswith("seed_audit: 2000 rows in ")
    assert AuditEntry.objects.count() == 2001
    rows = AuditEntry.objects.exclude(pk=real.pk)
    assert rows.values("project_id").distinct().count() == 4
    assert rows.values("actor_id").distinct().count() >= 8
    assert rows.values("volume_id").distinct().count() >= 40
    assert set(rows.values_list("action", flat=True)) == set(list(actions.AUDITED))
    outcomes = dict(rows.values_list("outcome").annotate(n=Count("id")))
    assert set(outcomes) == {Outcome.SUCCEEDED, Outcome.FAILED, Outcome.REJECTED, Outcome.ERROR, Outcome.UNKNOWN}
    assert outcomes[Outcome.SUCCEEDED] > 1200  # most actions work
    oldest, newest = rows.order_by("requested_at")[0], rows.order_by("-requested_at")[0]
    assert (newest.requested_at - oldest.requested_at).days >= 29
    upload = rows.filter(action=actions.UPLOAD.name, outcome=Outcome.SUCCEEDED).first()
    assert upload is not None and upload.image_id and upload.parameters["disk_format"] == "qcow2"
    refused = rows.filter(outcome=Outcome.REJECTED).first()
    assert refused is not None and refused.http_status in (400, 403, 409, 413) and refused.fault_name
    # Every row has its events, and the head counts them all.
    events = AuditEvent.objects.count()
    assert AuditEvent.objects.values("entry_id").distinct().count() == 2001
    assert AuditChainHead.objects.get().events == events and events >= 2 * 2001

    # A second run adds new rows (no collision with the first) and the application keeps writing after it.
    assert seed("300", "--seed", "1").startswith("seed_audit: 300 rows")
    make(volume_name="after-the-seed").advance(Outcome.ERROR, detail="timeout")
    assert verify() == f"OK: {AuditEvent.objects.count()} events, 2302 entries"

    for bad, message in ((["0"], "N must be at least 1"), (["5", "--projects", "0"], "--projects must be at least 1"),
                         (["5", "--days", "0"], "--days must be more than 0"), (["5", "--batch", "0"],
                                                                                "--batch must be at least 1")):
        with pytest.raises(CommandError, match=message):
            seed(*bad)
    assert AuditEntry.objects.count() == 2302


def test_it_refuses_to_write_made_up_rows_outside_demo_mode(settings: Any) -> None:
    settings.DEMO_MODE = False  # OS_AUTH_URL or OS_CLOUD names a real cloud
    with pytest.raises(CommandError, match="seed_audit writes made-up rows with a valid hash chain; it runs only "
                                           "against the demo cloud"):
        seed("5")
    assert not AuditEntry.objects.exists() and not AuditEvent.objects.exists()


def test_it_seeds_a_registry_kind_it_has_no_sample_for_with_empty_parameters(monkeypatch: Any) -> None:
    monkeypatch.setattr(seeding, "ACTIONS", [("os-added-later", 1)])
    assert seed("30", "--projects", "2").startswith("seed_audit: 30 rows")
    assert set(AuditEntry.objects.values_list("action", flat=True)) == {"os-added-later"}
    assert all(p == {} for p in AuditEntry.objects.values_list("parameters", flat=True))
    assert verify() == f"OK: {AuditEvent.objects.count()} events, 30 entries"
