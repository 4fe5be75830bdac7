"""The walk behind `manage.py verify_audit`: every event's hash and link recomputed, the head checked, each row
replayed against its events, and (with a digests directory) every signed digest and what it recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby, islice
from pathlib import Path
from typing import Any

from django.conf import settings

from volpanel.audit import digests as digest_files
from volpanel.audit.chain import GENESIS_HASH, canonical_json, jsonable, stored_event_hash
from volpanel.audit.digests import Digest
from volpanel.audit.models import (
    ALLOWED_MOVES,
    CHANGEABLE_FIELDS,
    LATER_FIELDS,
    AuditChainHead,
    AuditEntry,
    AuditEvent,
    EventKind,
    row_facts,
)

CHUNK = 2000


class Broken(Exception):
    """The first thing found that does not hold; its text is what verify_audit prints."""


def _broken(event_id: Any, entry_uuid: Any, what: str) -> Broken:
    return Broken(f"BROKEN at event {event_id} (entry {entry_uuid}): {what}")


@dataclass(frozen=True)
class Report:
    """A chain that holds: how many events and rows were checked, and how many digests (None: none asked for)."""

    events: int
    entries: int
    digests: int | None = None

    def __str__(self) -> str:
        found = f"OK: {self.events} events, {self.entries} entries"
        return found if self.digests is None else f"{found}, {self.digests} digests"


def verify(digests_dir: Path | None = None, key: str | None = None) -> Report:
    """Recompute every event's hash and link, check the head, then replay each row's events against the row.
    With `digests_dir`, first check every signed digest there (signed with `key`, by default
    VOLPANEL_AUDIT_DIGEST_KEY) and, during the walk, that the chain still holds what each recorded. Raises
    Broken at the first thing that does not hold; DigestError when digests are asked for without a key."""

    checked: list[Digest] | None = None
    if digests_dir is not None:
        key = key if key is not None else settings.VOLPANEL_AUDIT_DIGEST_KEY
        if not key:
            raise digest_files.DigestError("Set VOLPANEL_AUDIT_DIGEST_KEY to check digests.")
        try:
            checked = digest_files.load_chain(digests_dir, key)
        except (digest_files.DigestError, OSError) as exc:
            raise Broken(f"BROKEN {exc}") from None
    # Only what existed when we started: writers may append while we walk. Read after the digests, so every
    # digest saw a head no later than this one.
    head = AuditChainHead.objects.filter(pk=1).first()
    limit = head.last_event_id if head and head.last_event_id else 0
    # What each digest saw: at its head event the chain must have that hash and that many events.
    expected: dict[int, list[Digest]] = {}
    for digest in checked or []:
        if digest.head_event_id is not None:
            expected.setdefault(digest.head_event_id, []).append(digest)
    events = _walk_chain(head, limit, expected)
    entries = _check_entries(limit)
    return Report(events, entries, None if checked is None else len(checked))


def _batched(rows: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def _walk_chain(head: AuditChainHead | None, limit: int, expected: dict[int, list[Digest]]) -> int:

    expected = dict(expected)
    prev, count, last_id = GENESIS_HASH, 0, None
    events = (AuditEvent.objects.filter(id__lte=limit).order_by("id")
              .values_list("id", "entry_id", "kind", "outcome", "facts", "created_at", "prev_hash", "hash"))
    # The entry's uuid is hashed, not its id: looked up a chunk of events at a time (a join would hide events
    # whose row is gone).
    uuids: dict[int, str] = {}
    for chunk in _batched(events.iterator(CHUNK), CHUNK):
        missing = {row[1] for row in chunk} - uuids.keys()
        if len(uuids) > 4 * CHUNK:
            uuids.clear()
            missing = {row[1] for row in chunk}
        uuids.update((pk, str(u)) for pk, u in
                     AuditEntry.objects.filter(pk__in=missing).values_list("id", "uuid"))
        for event_id, entry_id, kind, outcome, facts, created_at, prev_hash, stored in chunk:
            if entry_id not in uuids:
                raise _broken(event_id, "-", f"its audit row (id {entry_id}) is gone")
            entry_uuid = uuids[entry_id]
            if prev_hash != prev:
                raise _broken(event_id, entry_uuid, f"prev_hash {prev_hash[:12]}… does not follow the previous "
                                                    f"event's hash {prev[:12]}… (an event was removed or altered)")
            try:
                recomputed = stored_event_hash(prev_hash, entry_uuid, kind, outcome, facts, jsonable(created_at))
            except json.JSONDecodeError:
                raise _broken(event_id, entry_uuid, "its facts are not JSON") from None
            if recomputed != stored:
                raise _broken(event_id, entry_uuid, "its content does not match its hash")
            prev, count, last_id = stored, count + 1, event_id
            for digest in expected.pop(event_id, []):
                if (stored, count) == (digest.head_hash, digest.events):
                    continue
                raise _broken(event_id, entry_uuid, f"digest {digest.name} recorded this event with hash "
                                                    f"{digest.head_hash[:12]}… as event number {digest.events}; "
                                                    f"the chain has {stored[:12]}… as number {count} (the chain "
                                                    f"was rewritten after that digest)")
    if head is not None and head.last_hash != prev:
        raise _broken(head.last_event_id, "-", f"the chain ends at event {last_id}, but the head records "
                                               f"event {head.last_event_id} (the last events were removed)")
    if head is not None and head.events != count:
        raise _broken(head.last_event_id, "-", f"the head counts {head.events} events, the chain has {count}")
    if head is None and AuditEvent.objects.exists():
        raise _broken("-", "-", "events exist but the chain head is gone")
    if expected:
        event_id, [digest, *_] = min(expected.items())
        raise _broken(event_id, "-", f"digest {digest.name} recorded event {event_id} as number {digest.events}, "
                                     f"but the chain ends at event {last_id} with {count} events (events were "
                                     f"removed after that digest)")
    return count


def _check_entries(limit: int) -> int:

    events = (AuditEvent.objects.filter(id__lte=limit).order_by("entry_id", "id")
              .values_list("entry_id", "id", "kind", "outcome", "facts"))
    grouped: Iterator[tuple[int, Iterator[Any]]] = groupby(events.iterator(CHUNK), key=lambda e: e[0])
    current = next(grouped, None)
    count = 0
    for entry in AuditEntry.objects.order_by("id").iterator(CHUNK):
        if current is not None and current[0] < entry.pk:
            _orphans(current)
        history: list[Any] = []
        if current is not None and current[0] == entry.pk:
            history = list(current[1])
            current = next(grouped, None)
        problem = _replay(entry, history)
        # A row advanced after the walk began has events past the limit: not reported.
        if problem and not AuditEvent.objects.filter(entry_id=entry.pk, id__gt=limit).exists():
            raise _broken(history[-1][1] if history else "-", entry.uuid, problem)
        count += 1
    if current is not None:
        _orphans(current)
    return count


def _orphans(group: tuple[int, Iterator[Any]]) -> None:
    first = next(group[1])
    raise _broken(first[1], "-", f"events of audit row id {group[0]}, which is gone")


def _replay(entry: AuditEntry, history: list[Any]) -> str:
    """What differs between the row and the state its events (entry_id, id, kind, outcome, facts; oldest first)
    build, or '' when they agree."""

    if not history or history[0][2] != EventKind.REQUESTED:
        return "the row has no 'requested' event (written outside volpanel, or its event was removed)"
    state: dict[str, Any] = {**LATER_FIELDS, **json.loads(history[0][4])}
    outcome = history[0][3]
    for _, event_id, kind, new_outcome, facts in history[1:]:
        if kind == EventKind.REQUESTED:
            return f"event {event_id} requests the row a second time"
        if new_outcome not in ALLOWED_MOVES.get(outcome, frozenset()):
            return f"event {event_id} moves the outcome {outcome} → {new_outcome}, which is not allowed"
        step = json.loads(facts)
        if set(step) - CHANGEABLE_FIELDS:
            return f"event {event_id} changes fixed fields {sorted(set(step) - CHANGEABLE_FIELDS)}"
        state.update(step)
        outcome = new_outcome
    if entry.outcome != outcome:
        return f"outcome is {entry.outcome!r} in the row but {outcome!r} in its events"
    current = row_facts(entry)
    for name in sorted(set(current) | set(state)):
        if canonical_json(current.get(name)) != canonical_json(state.get(name)):
            return f"{name} is {current.get(name)!r} in the row but {state.get(name)!r} in its events"
    return ""
