"""The audit hash chain: every write to an audit row is a chained event, and verify_audit catches tampering."""

from __future__ import annotations

import hashlib
import json
from functools import partial
from io import StringIO
from itertools import pairwise
from typing import Any

import pytest
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError
from django.db import connection

from tests.conftest import Demo
from tests.volumes.test_services import run, settle
from volpanel.audit import chain
from volpanel.audit.models import AppendOnlyError, AuditChainHead, AuditEntry, AuditEvent, EventKind, Outcome
from volpanel.volumes import actions


def make(**overrides: Any) -> AuditEntry:
    values: dict[str, Any] = {"actor_id": "u1", "actor_name": "alice", "project_id": "p1", "volume_id": "v1",
                              "action": "os-extend", "parameters": {"new_size": 2}, "source_ip": "::ffff:10.0.0.1"}
    entry = AuditEntry(**{**values, **overrides})
    entry.save()
    return entry


def verify() -> str:
    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue().strip()


def broken() -> str:
    with pytest.raises(CommandError) as caught:
        verify()
    assert caught.value.returncode == 1
    return str(caught.value)


def sql(statement: str, *params: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.mark.django_db(transaction=True)
def test_it_chains_a_real_action_and_verifies_it(demo: Demo, alice: Any) -> None:
    row = settle(run(demo, alice, "data-01", partial(actions.run, "extend"), new_size=12))
    refused = run(demo, alice, "data-01", partial(actions.run, "extend"), new_size=10_000)
    assert row.outcome == Outcome.SUCCEEDED and AuditEntry.objects.get(pk=refused.pk).outcome == Outcome.REJECTED
    assert [(e.kind, e.outcome) for e in row.events.all()] == [
        (EventKind.REQUESTED, Outcome.PENDING), (EventKind.ANSWERED, Outcome.ACCEPTED),
        (EventKind.SETTLED, Outcome.SUCCEEDED)]
    events = list(AuditEvent.objects.order_by("id"))
    assert len(events) == 5 and all(b.prev_hash == a.hash for a, b in pairwise(events))
    assert AuditChainHead.objects.get().last_hash == events[-1].hash
    assert verify() == "OK: 5 events, 2 entries"


def test_it_hashes_events_as_the_chain_always_has() -> None:
    # The hash stored chains were written with: SHA-256 of prev_hash + canonical JSON of the whole body. Pinned,
    # and checked against that definition for the awkward cases (escapes, non-ASCII, nesting, spacing).
    facts = {"volume_name": 'données "prod"\n\u2028', "parameters": {"new_size": 12, "old_size": 10.5},
             "is_admin": False, "server_id": None}
    args = ("0" * 64, "01234567-89ab-cdef-0123-456789abcdef", "requested", "pending")
    at = "2026-11-20T12:00:00.123456+00:00"
    pinned = "1c2deec6aa173dfbca24e016bcce7884215aae6ed7d60e47716d722eb81e834b"
    assert chain.event_hash(*args, chain.canonical_json(facts), at) == pinned
    assert AuditEvent.compute_hash(*args, json.dumps(facts, indent=1), at) == pinned  # stored text, re-read
    for kind, value in (("se\"tt\\led", {"k": "\x00\t"}), ("answered", {"z": [1, {"b": 2, "a": "é"}]}),
                        ("settled", {})):
        body = {"entry": "e-\u00e9", "kind": kind, "outcome": "ok", "facts": value, "created_at": at}
        expected = hashlib.sha256(("f" * 64 + chain.canonical_json(body)).encode()).hexdigest()
        assert chain.event_hash("f" * 64, "e-\u00e9", kind, "ok", chain.canonical_json(value), at) == expected


@pytest.mark.django_db
def test_it_catches_rows_edited_in_the_database() -> None:
    assert verify() == "OK: 0 events, 0 entries"
    entry = make()
    entry.advance(Outcome.ACCEPTED, http_status=202, request_id="req-1")
    entry.advance(Outcome.SUCCEEDED, detail="done")
    assert verify() == "OK: 3 events, 1 entries"

    AuditEntry.objects.filter(pk=entry.pk).update(volume_id="v2")
    message = broken()
    assert f"entry {entry.uuid}" in message and "volume_id is 'v2' in the row but 'v1' in its events" in message
    AuditEntry.objects.filter(pk=entry.pk).update(volume_id="v1")
    assert verify().startswith("OK")

    sql("UPDATE volpanel_auditentry SET parameters = %s WHERE id = %s", '{"new_size": 2000}', entry.pk)
    assert "parameters is {'new_size': 2000} in the row" in broken()
    sql("UPDATE volpanel_auditentry SET parameters = %s WHERE id = %s", '{"new_size": 2}', entry.pk)

    sql("UPDATE volpanel_auditentry SET outcome = 'failed' WHERE id = %s", entry.pk)
    assert "outcome is 'failed' in the row but 'succeeded' in its events" in broken()
    sql("UPDATE volpanel_auditentry SET outcome = 'succeeded' WHERE id = %s", entry.pk)
    assert verify().startswith("OK")

    # Rewriting the event too breaks its hash.
    settled = entry.events.get(kind=EventKind.SETTLED)
    sql("UPDATE volpanel_auditevent SET outcome = 'failed' WHERE id = %s", settled.pk)
    message = broken()
    assert f"event {settled.pk}" in message and "does not match its hash" in message


@pytest.mark.django_db
def test_it_catches_deleted_events_and_rows_written_outside_volpanel() -> None:
    first, second = make(), make(volume_id="v2")
    second.advance(Outcome.ACCEPTED)
    middle, last = first.events.get(), second.events.get(kind=EventKind.ANSWERED)
    sql("DELETE FROM volpanel_auditevent WHERE id = %s", last.pk)
    assert "the last events were removed" in broken()
    sql("UPDATE volpanel_auditentry SET outcome = 'pending' WHERE id = %s", second.pk)
    sql("UPDATE volpanel_auditchainhead SET last_event_id = %s, last_hash = %s, events = 2",
        second.events.get().pk, second.events.get().hash)
    assert verify() == "OK: 2 events, 2 entries"  # a consistent rollback of the tail needs the head rewritten

    sql("DELETE FROM volpanel_auditevent WHERE id = %s", middle.pk)
    message = broken()
    assert f"event {second.events.get().pk}" in message and "an event was removed or altered" in message


@pytest.mark.django_db
def test_it_finds_a_row_without_events() -> None:
    make()
    sql("INSERT INTO volpanel_auditentry (uuid, requested_at, actor_id, actor_name, actor_domain, project_id, "
        "project_name, is_admin, user_agent, cloud, volume_id, volume_name, action, parameters, microversion, "
        "server_id, attachment_id, snapshot_id, image_id, outcome, request_id, fault_name, detail, status_before, "
        "status_after) VALUES ('0123456789abcdef0123456789abcdef', '2026-01-01 00:00:00', 'u9', 'mallory', '', "
        "'p1', '', false, '', '', 'v9', '', 'os-extend', '{}', '', '', '', '', '', 'succeeded', '', '', '', '', '')")
    message = broken()
    assert "has no 'requested' event" in message and "01234567-89ab-cdef-0123-456789abcdef" in message


@pytest.mark.django_db
def test_it_keeps_events_append_only() -> None:
    event = make().events.get()
    assert (event.outcome, event.prev_hash) == (Outcome.PENDING, "0" * 64)
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.update(outcome="failed")


@pytest.mark.django_db(transaction=True)
def test_it_exits_with_status_1_and_names_the_broken_link(capsys: Any) -> None:
    entry = make()
    ManagementUtility(["manage.py", "verify_audit"]).execute()
    assert capsys.readouterr().out.strip() == "OK: 1 events, 1 entries"
    sql("UPDATE volpanel_auditentry SET volume_id = 'elsewhere' WHERE id = %s", entry.pk)
    with pytest.raises(SystemExit) as exited:
        ManagementUtility(["manage.py", "verify_audit"]).execute()
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert f"BROKEN at event {entry.events.get().pk} (entry {entry.uuid}): volume_id is 'elsewhere'" in err


@pytest.mark.django_db(transaction=True)
def test_it_finds_events_whose_row_is_gone() -> None:
    first, second = make(), make(volume_id="v2")
    event = first.events.get()
    # Someone with the database's own powers: foreign keys off (SQLite's pragma; PostgreSQL's replica role).
    with connection.constraint_checks_disabled():
        if connection.vendor == "postgresql":
            sql("SET session_replication_role = replica")
        sql("DELETE FROM volpanel_auditentry WHERE id = %s", first.pk)
        if connection.vendor == "postgresql":
            sql("SET session_replication_role = DEFAULT")
    message = broken()
    assert f"BROKEN at event {event.pk} (entry -): its audit row (id {first.pk}) is gone" in message
    sql("DELETE FROM volpanel_auditevent WHERE id = %s", event.pk)  # leave the database consistent for flush
    assert second.events.exists()


@pytest.mark.django_db(transaction=True)
def test_it_verifies_rows_chained_before_the_admin_fields_and_still_catches_them_edited() -> None:
    """Rows written before migration 0007 name no reason, volume project or repair link in their 'requested'
    event: the replay reads those as the fields' defaults (models.LATER_FIELDS), and a later edit still shows."""
    from volpanel.audit.chain import canonical_json, jsonable

    entry = make()
    event = entry.events.get()
    facts = {k: v for k, v in json.loads(event.facts).items() if k not in ("reason", "volume_project_id", "repairs")}
    text = canonical_json(facts)
    digest = AuditEvent.compute_hash(event.prev_hash, str(entry.uuid), event.kind, event.outcome, text,
                                     jsonable(event.created_at))
    sql("UPDATE volpanel_auditevent SET facts = %s, hash = %s WHERE id = %s", text, digest, event.pk)
    sql("UPDATE volpanel_auditchainhead SET last_hash = %s WHERE id = 1", digest)
    assert verify() == "OK: 1 events, 1 entries"
    AuditEntry.objects.filter(pk=entry.pk).update(reason="added afterwards")
    assert "reason is 'added afterwards' in the row but '' in its events" in broken()


@pytest.mark.django_db(transaction=True)
def test_it_chains_what_the_database_holds_whether_or_not_the_write_is_read_back() -> None:
    from datetime import UTC, datetime

    from volpanel.audit.models import _FIELDS_BY_NAME, kept_as_given

    field = _FIELDS_BY_NAME.__getitem__
    # Values every database gives back as handed need no read back; anything else is read back before chaining.
    assert kept_as_given(field("source_ip"), "10.0.0.1") and kept_as_given(field("source_ip"), None)
    assert not kept_as_given(field("source_ip"), "2001:DB8:0:0::7") and not kept_as_given(field("source_ip"), "::1")
    assert kept_as_given(field("answered_at"), datetime(2026, 12, 4, 10, 0, 0, 123456, tzinfo=UTC))
    assert not kept_as_given(field("answered_at"), datetime(2026, 12, 4, 10, 0))  # naive
    assert kept_as_given(field("http_status"), 202) and not kept_as_given(field("http_status"), "202")
    assert not kept_as_given(field("request_id"), None) and not kept_as_given(field("request_id"), Outcome.PENDING)
    assert kept_as_given(field("parameters"), {"new_size": 2, "types": ("a", "b")})
    assert not kept_as_given(field("parameters"), {1: "a", "b": 2}) and not kept_as_given(field("parameters"), {1.5})
    plain = make(source_ip="10.0.0.1")
    plain.advance(Outcome.ACCEPTED, answered_at=datetime.now(UTC), http_status=202, request_id="req-1")
    odd = make(source_ip="2001:DB8:0:0::7", parameters={"sizes": (1, 2)}, idempotency_key="k" * 32)
    odd.advance(Outcome.ACCEPTED, http_status=202, request_id="req-2", detail="x" * 3)
    odd.advance(Outcome.SUCCEEDED, settled_at=datetime.now(UTC), status_after="available")
    assert verify() == "OK: 5 events, 2 entries"
    head = AuditChainHead.objects.get(pk=1)
    last = AuditEvent.objects.order_by("-id").first()
    assert last is not None and (head.last_event_id, head.last_hash, head.events) == (last.pk, last.hash, 5)
    requested = json.loads(AuditEvent.objects.get(entry=odd, kind=EventKind.REQUESTED).facts)
    assert (requested["source_ip"], requested["parameters"]) == ("2001:db8::7", {"sizes": [1, 2]})
