"""`manage.py verify_audit`: walk the audit hash chain and check every row against its events."""

from __future__ import annotations

import json
from itertools import groupby
from typing import Any, Iterator

from django.core.management.base import BaseCommand, CommandError

from volpanel.models import (
    ALLOWED_MOVES, CHANGEABLE_FIELDS, GENESIS_HASH, AuditChainHead, AuditEntry, AuditEvent, EventKind, jsonable,
    canonical_json, row_facts,
)

CHUNK = 2000


class Broken(Exception):
    def __init__(self, event_id: Any, entry_uuid: Any, what: str) -> None:
        super().__init__(f"BROKEN at event {event_id} (entry {entry_uuid}): {what}")


class Command(BaseCommand):
    help = "Recompute every audit event's hash and check each audit row against its events."

    def handle(self, *args: Any, **options: Any) -> None:
        # Only what existed when we started: writers may append while we walk.
        head = AuditChainHead.objects.filter(pk=1).first()
        limit = head.last_event_id if head and head.last_event_id else 0
        try:
            events = self._walk_chain(head, limit)
            entries = self._check_entries(limit)
        except Broken as exc:
            raise CommandError(str(exc), returncode=1) from None
        self.stdout.write(f"OK: {events} events, {entries} entries")

    def _walk_chain(self, head: AuditChainHead | None, limit: int) -> int:
        prev, count, last_id = GENESIS_HASH, 0, None
        events = (AuditEvent.objects.filter(id__lte=limit).order_by("id")
                  .values_list("id", "entry_id", "kind", "outcome", "facts", "created_at", "prev_hash", "hash"))
        # The entry's uuid is hashed, not its id: look it up per event (a join would hide events whose row is gone).
        uuids: dict[int, str] = {}
        for event_id, entry_id, kind, outcome, facts, created_at, prev_hash, stored in events.iterator(CHUNK):
            if entry_id not in uuids:
                if len(uuids) > CHUNK:
                    uuids.clear()
                found = AuditEntry.objects.filter(pk=entry_id).values_list("uuid", flat=True).first()
                if found is None:
                    raise Broken(event_id, "-", f"its audit row (id {entry_id}) is gone")
                uuids[entry_id] = str(found)
            entry_uuid = uuids[entry_id]
            if prev_hash != prev:
                raise Broken(event_id, entry_uuid, f"prev_hash {prev_hash[:12]}… does not follow the previous "
                                                   f"event's hash {prev[:12]}… (an event was removed or altered)")
            try:
                expected = AuditEvent.compute_hash(prev_hash, str(entry_uuid), kind, outcome, facts,
                                                   jsonable(created_at))
            except json.JSONDecodeError:
                raise Broken(event_id, entry_uuid, "its facts are not JSON") from None
            if expected != stored:
                raise Broken(event_id, entry_uuid, "its content does not match its hash")
            prev, count, last_id = stored, count + 1, event_id
        if head is not None and head.last_hash != prev:
            raise Broken(head.last_event_id, "-", f"the chain ends at event {last_id}, but the head records "
                                                  f"event {head.last_event_id} (the last events were removed)")
        if head is not None and head.events != count:
            raise Broken(head.last_event_id, "-", f"the head counts {head.events} events, the chain has {count}")
        if head is None and AuditEvent.objects.exists():
            raise Broken("-", "-", "events exist but the chain head is gone")
        return count

    def _check_entries(self, limit: int) -> int:
        events = (AuditEvent.objects.filter(id__lte=limit).order_by("entry_id", "id")
                  .values_list("entry_id", "id", "kind", "outcome", "facts"))
        grouped: Iterator[tuple[int, Iterator[Any]]] = groupby(events.iterator(CHUNK), key=lambda e: e[0])
        current = next(grouped, None)
        count = 0
        for entry in AuditEntry.objects.order_by("id").iterator(CHUNK):
            if current is not None and current[0] < entry.pk:
                self._orphans(current)
            history: list[Any] = []
            if current is not None and current[0] == entry.pk:
                history = list(current[1])
                current = next(grouped, None)
            problem = self._replay(entry, history)
            if problem and not AuditEvent.objects.filter(entry_id=entry.pk, id__gt=limit).exists():
                raise Broken(history[-1][1] if history else "-", entry.uuid, problem)
            count += 1
        if current is not None:
            self._orphans(current)
        return count

    @staticmethod
    def _orphans(group: tuple[int, Iterator[Any]]) -> None:
        first = next(group[1])
        raise Broken(first[1], "-", f"events of audit row id {group[0]}, which is gone")

    @staticmethod
    def _replay(entry: AuditEntry, history: list[Any]) -> str:
        """What differs between the row and the state its events build, or '' when they agree."""
        if not history or history[0][2] != EventKind.REQUESTED:
            return "the row has no 'requested' event (written outside volpanel, or its event was removed)"
        state: dict[str, Any] = json.loads(history[0][4])
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
