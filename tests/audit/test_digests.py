"""Signed digests of the audit chain: written by `manage.py audit_digest` (or the web process), checked by
`verify_audit --digests`, which catches a chain rebuilt after tampering that the plain walk accepts."""

from __future__ import annotations

import json
import shutil
import time
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from tests.audit.test_chain import make, sql, verify
from volpanel.audit import digests, reconciler
from volpanel.audit.models import AuditChainHead, AuditEntry, AuditEvent, Outcome, jsonable

KEY = "an-hmac-key-of-at-least-32-bytes-for-the-tests"


def write_digest() -> str:
    out = StringIO()
    call_command("audit_digest", stdout=out)
    return out.getvalue().strip()


def verify_with(directory: Path) -> str:
    out = StringIO()
    call_command("verify_audit", "--digests", str(directory), stdout=out)
    return out.getvalue().strip()


def broken_with(directory: Path) -> str:
    with pytest.raises(CommandError) as caught:
        verify_with(directory)
    assert caught.value.returncode == 1
    return str(caught.value)


def rebuild_chain() -> None:
    """What someone with write access to the database can do: recompute every hash from the first event on, so
    the chain and its head agree again."""
    prev = "0" * 64
    uuids = dict(AuditEntry.objects.values_list("id", "uuid"))
    for event in AuditEvent.objects.order_by("id"):
        new = AuditEvent.compute_hash(prev, str(uuids[event.entry_id]), event.kind, event.outcome, event.facts,
                                      jsonable(event.created_at))
        sql("UPDATE volpanel_auditevent SET prev_hash = %s, hash = %s WHERE id = %s", prev, new, event.pk)
        prev = new
    sql("UPDATE volpanel_auditchainhead SET last_hash = %s WHERE id = 1", prev)


@pytest.mark.django_db(transaction=True)
def test_it_catches_a_rebuilt_chain_a_forged_digest_and_a_removed_one(tmp_path: Path, settings: Any) -> None:
    settings.VOLPANEL_AUDIT_DIGEST_KEY, settings.VOLPANEL_AUDIT_DIGEST_DIR = KEY, str(tmp_path)
    assert write_digest().startswith(f"audit_digest: wrote {tmp_path}/audit-digest-")  # an empty chain
    first = make(volume_name="prod-db")
    first.advance(Outcome.ACCEPTED, answered_at=timezone.now(), http_status=202, request_id="req-1")
    write_digest()
    make(volume_name="scratch").advance(Outcome.REJECTED, answered_at=timezone.now(), http_status=400,
                                        detail="Invalid input.")
    write_digest()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 3
    second = json.loads((tmp_path / names[1]).read_text())
    head = AuditChainHead.objects.get()
    assert (second["head_event_id"], second["events"]) == (AuditEvent.objects.order_by("id")[1].pk, 2)
    assert second["previous_digest"] == names[0] and head.events == 4
    assert verify_with(tmp_path) == "OK: 4 events, 2 entries, 3 digests"

    # The row is edited and its 'requested' event rewritten to match, then the chain is rebuilt: the plain walk
    # cannot tell, the digests can.
    event = AuditEvent.objects.filter(entry=first).order_by("id").first()
    assert event is not None
    facts = json.loads(event.facts)
    facts["volume_name"] = "innocent"
    sql("UPDATE volpanel_auditentry SET volume_name = 'innocent' WHERE id = %s", first.pk)
    sql("UPDATE volpanel_auditevent SET facts = %s WHERE id = %s",
        json.dumps(facts, sort_keys=True, separators=(",", ":")), event.pk)
    rebuild_chain()
    assert verify() == "OK: 4 events, 2 entries"
    message = broken_with(tmp_path)
    assert message.startswith(f"BROKEN at event {second['head_event_id']} (entry {first.uuid}): digest {names[1]} "
                              f"recorded this event with hash {second['head_hash'][:12]}… as event number 2")
    assert message.endswith("(the chain was rewritten after that digest)")

    # Digests are checked on their own too: a changed count keeps the old signature and is caught; so is a
    # digest removed from the middle, and one signed with another key.
    forged_dir = tmp_path / "forged"
    forged_dir.mkdir()
    for name in names:
        shutil.copy(tmp_path / name, forged_dir / name)
    forged = {**second, "events": 3}
    (forged_dir / names[1]).write_text(json.dumps(forged))
    assert broken_with(forged_dir) == (f"BROKEN digest {names[1]}: the signature does not match (forged or "
                                       f"altered, or signed with another key)")
    (forged_dir / names[1]).unlink()
    assert broken_with(forged_dir) == (f"BROKEN digest {names[2]} does not follow {names[0]} (a digest was "
                                       f"removed, replaced or altered)")
    settings.VOLPANEL_AUDIT_DIGEST_KEY = "another-key-of-at-least-32-bytes-long-enough"
    assert "the signature does not match" in broken_with(tmp_path)
    settings.VOLPANEL_AUDIT_DIGEST_KEY = ""
    with pytest.raises(CommandError, match="Set VOLPANEL_AUDIT_DIGEST_KEY"):
        verify_with(tmp_path)
    with pytest.raises(CommandError, match="Set VOLPANEL_AUDIT_DIGEST_KEY and VOLPANEL_AUDIT_DIGEST_DIR"):
        write_digest()


@pytest.mark.django_db(transaction=True)
def test_it_catches_events_removed_after_a_digest_with_the_head_rewritten(tmp_path: Path, settings: Any) -> None:
    settings.VOLPANEL_AUDIT_DIGEST_KEY, settings.VOLPANEL_AUDIT_DIGEST_DIR = KEY, str(tmp_path)
    kept = make()
    kept.advance(Outcome.ERROR, answered_at=timezone.now(), detail="timeout")
    gone = make(volume_name="evidence")
    write_digest()
    assert verify_with(tmp_path) == "OK: 3 events, 2 entries, 1 digests"
    last = AuditEvent.objects.get(entry=gone)
    previous = AuditEvent.objects.filter(id__lt=last.pk).order_by("-id").first()
    assert previous is not None
    sql("DELETE FROM volpanel_auditevent WHERE id = %s", last.pk)
    sql("DELETE FROM volpanel_auditentry WHERE id = %s", gone.pk)
    sql("UPDATE volpanel_auditchainhead SET last_event_id = %s, last_hash = %s, events = 2 WHERE id = 1",
        previous.pk, previous.hash)
    assert verify() == "OK: 2 events, 1 entries"
    assert broken_with(tmp_path).endswith(
        f"recorded event {last.pk} as number 3, but the chain ends at event {previous.pk} with 2 events (events "
        f"were removed after that digest)")


@pytest.mark.django_db(transaction=True)
def test_it_writes_a_digest_from_the_web_process_when_one_is_due(tmp_path: Path, settings: Any) -> None:
    settings.VOLPANEL_AUDIT_DIGEST_KEY, settings.VOLPANEL_AUDIT_DIGEST_DIR = KEY, str(tmp_path)
    make()
    assert digests.write(max_age=3600) is not None
    assert digests.write(max_age=3600) is None  # one is fresh: another process wrote it
    settings.VOLPANEL_AUDIT_DIGEST_INTERVAL = 0.2
    try:
        reconciler.start_periodic()
        deadline = time.monotonic() + 15
        while len(list(tmp_path.glob("audit-digest-*.json"))) < 3:
            assert time.monotonic() < deadline, "the web process wrote no digest"
            time.sleep(0.05)
    finally:
        reconciler.stop_periodic()
    assert verify_with(tmp_path).endswith(" digests")
