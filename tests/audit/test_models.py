"""AuditEntry is append-only: outcomes move forward, nothing else changes, nothing is deleted."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from volpanel.audit.models import AppendOnlyError, AuditEntry, Outcome

pytestmark = pytest.mark.django_db


def make() -> AuditEntry:
    entry = AuditEntry(actor_id="u1", actor_name="alice", project_id="p1", volume_id="v1", action="os-extend",
                       parameters={"new_size": 2})
    entry.save()
    return entry


def test_it_moves_outcomes_forward_only() -> None:
    entry = make()
    assert entry.outcome == Outcome.PENDING
    assert entry.advance(Outcome.ACCEPTED, http_status=202, request_id="req-1")
    assert not entry.advance(Outcome.PENDING)
    assert not entry.advance(Outcome.REJECTED)
    assert entry.advance(Outcome.SUCCEEDED, detail="done")
    assert not entry.advance(Outcome.FAILED)
    row = AuditEntry.objects.get(pk=entry.pk)
    assert (row.outcome, row.http_status, row.request_id, row.detail) == ("succeeded", 202, "req-1", "done")


def test_it_refuses_edits_and_deletes() -> None:
    entry = make()
    entry.volume_id = "v2"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        entry.advance(Outcome.ACCEPTED, volume_id="v3")
    assert AuditEntry.objects.get(pk=entry.pk).volume_id == "v1"


def test_it_lets_only_one_of_two_racing_resolvers_win() -> None:
    entry = make()
    entry.advance(Outcome.ACCEPTED)
    twin = AuditEntry.objects.get(pk=entry.pk)
    assert entry.advance(Outcome.SUCCEEDED)
    assert not twin.advance(Outcome.FAILED)
    assert AuditEntry.objects.get(pk=entry.pk).outcome == Outcome.SUCCEEDED


def test_it_has_no_missing_migrations() -> None:
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
