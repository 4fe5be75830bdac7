"""Audit rows written straight through the model (services write them in real use), and admin clients."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from volpanel.audit.models import AuditEntry, Outcome

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=dt_timezone.utc)


def make_row(*, outcome: str = Outcome.SUCCEEDED, at: datetime | None = None, **fields: Any) -> AuditEntry:
    """One row as services would leave it: written pending, then advanced to `outcome`."""
    values: dict[str, Any] = {
        "actor_id": "u-alice", "actor_name": "alice", "project_id": "p-demo", "project_name": "demo",
        "volume_id": str(uuid.uuid4()), "volume_name": "data-01", "action": "os-extend",
        "parameters": {"new_size": 11, "old_size": 10}, "status_before": "available",
        "requested_at": at or T0,
    }
    values.update(fields)
    entry = AuditEntry(**values)
    entry.save()
    if outcome in (Outcome.ACCEPTED, Outcome.SUCCEEDED, Outcome.FAILED):
        entry.advance(Outcome.ACCEPTED, http_status=202, request_id=fields.get("request_id") or
                      f"req-{uuid.uuid4()}", answered_at=entry.requested_at + timedelta(seconds=1))
    if outcome in (Outcome.SUCCEEDED, Outcome.FAILED):
        entry.advance(outcome, status_after="available", detail="size reached" if outcome == "succeeded" else
                      "the volume went to error_extending", settled_at=entry.requested_at + timedelta(seconds=5))
    elif outcome in (Outcome.REJECTED, Outcome.ERROR, Outcome.UNKNOWN):
        entry.advance(outcome, http_status=400 if outcome == Outcome.REJECTED else None,
                      fault_name="badRequest" if outcome == Outcome.REJECTED else "",
                      detail=f"{outcome} on purpose")
    return entry


@pytest.fixture
def staff_client(db: Any) -> Client:
    """A Django staff user signed in to django-admin: an auditor with no Keystone session."""
    user = get_user_model().objects.create_user("auditor", password="x", is_staff=True)
    client = Client()
    client.force_login(user)
    return client
