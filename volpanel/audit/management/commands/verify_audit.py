"""`manage.py verify_audit`: walk the audit hash chain and check every row against its events."""

from __future__ import annotations

import json
from itertools import groupby, islice
from pathlib import Path
from typing import Any, Iterator

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from volpanel.audit import digests as digest_files
from volpanel.audit.models import (
    ALLOWED_MOVES, CHANGEABLE_FIELDS, GENESIS_HASH, AuditChainHead, AuditEntry, AuditEvent, EventKind, jsonable,
    canonical_json, row_facts,
)

CHUNK = 2000


def batched(rows: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while chunk := list(islice(rows, size)):
        yield chunk


class Broken(Exception):
    def __init__(self, event_id: Any, entry_uuid: Any, what: str) -> None:
        super().__init__(f"BROKEN at event {event_id} (entry {entry_uuid}): {what}")


class Command(BaseCommand):
    help = ("Recompute every audit event's hash and check each audit row against its events; with --digests DIR, "
            "also check every signed digest there and that the chain still holds what each digest recorded.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--digests", metavar="DIR", type=Path,
                            help="Directory of digests written by `manage.py audit_digest` (signature key: "
                                 "VOLPANEL_AUDIT_DIGEST_KEY).")

    def handle(self, *args: Any, **options: Any) -> None:
        checked: list[digest_files.Digest] | None = None
        if options["digests"] is not None:
            if not settings.VOLPANEL_AUDIT_DIGEST_KEY:
                raise CommandError("Set VOLPANEL_AUDIT_DIGEST_KEY to check digests.")
            try:
                checked = digest_files.load_chain(options["digests"], settings.VOLPANEL_AUDIT_DIGEST_KEY)
            except (digest_files.DigestError, OSError) as exc:
                raise CommandError(f"BROKEN {exc}", returncode=1) from None
        # Only what existed when we started: writers may append while we walk. Read after the digests, so every
        # digest saw a head no later than this one.
        head = AuditChainHead.objects.filter(pk=1).first()
        limit = head.last_event_id if head and head.last_event_id else 0
        # What each digest saw: at its head event the chain must have that hash and that many events.
        expected: dict[int, list[digest_files.Digest]] = {}
        for digest in checked or []:
            if digest.head_event_id is not None:
                expected.setdefault(digest.head_event_id, []).append(digest)
        try:
            events = self._walk_chain(head, limit, expected)
            entries = self._check_entries(limit)
        except Broken as exc:
            raise CommandError(str(exc), returncode=1) from None
        if checked is None:
            self.stdout.write(f"OK: {events} events, {entries} entries")
        else:
            self.stdout.write(f"OK: {events} events, {entries} entries, {len(checked)} digests")

    def _walk_chain(self, head: AuditChainHead | None, limit: int,
                    expected: dict[int, list[digest_files.Digest]] | None = None) -> int:
        expected = dict(expected or {})
        prev, count, last_id = GENESIS_HASH, 0, None
        events = (AuditEvent.objects.filter(id__lte=limit).order_by("id")
                  .values_list("id", "entry_id", "kind", "outcome", "facts", "created_at", "prev_hash", "hash"))
        # The entry's uuid is hashed, not its id: looked up a chunk of events at a time (a join would hide events
        # whose row is gone).
        uuids: dict[int, str] = {}
        for chunk in batched(events.iterator(CHUNK), CHUNK):
            missing = {row[1] for row in chunk} - uuids.keys()
            if len(uuids) > 4 * CHUNK:
                uuids.clear()
                missing = {row[1] for row in chunk}
            uuids.update((pk, str(u)) for pk, u in
                         AuditEntry.objects.filter(pk__in=missing).values_list("id", "uuid"))
            for event_id, entry_id, kind, outcome, facts, created_at, prev_hash, stored in chunk:
                if entry_id not in uuids:
                    raise Broken(event_id, "-", f"its audit row (id {entry_id}) is gone")
                entry_uuid = uuids[entry_id]
                if prev_hash != prev:
                    raise Broken(event_id, entry_uuid, f"prev_hash {prev_hash[:12]}… does not follow the "
                                                       f"previous event's hash {prev[:12]}… (an event was removed "
                                                       f"or altered)")
                try:
                    expected_hash = AuditEvent.compute_hash(prev_hash, str(entry_uuid), kind, outcome, facts,
                                                            jsonable(created_at))
                except json.JSONDecodeError:
                    raise Broken(event_id, entry_uuid, "its facts are not JSON") from None
                if expected_hash != stored:
                    raise Broken(event_id, entry_uuid, "its content does not match its hash")
                prev, count, last_id = stored, count + 1, event_id
                for digest in expected.pop(event_id, []):
                    if (stored, count) == (digest.head_hash, digest.events):
                        continue
                    raise Broken(event_id, entry_uuid, f"digest {digest.name} recorded this event with hash "
                                                       f"{digest.head_hash[:12]}… as event number {digest.events}; "
                                                       f"the chain has {stored[:12]}… as number {count} (the chain "
                                                       f"was rewritten after that digest)")
        if head is not None and head.last_hash != prev:
            raise Broken(head.last_event_id, "-", f"the chain ends at event {last_id}, but the head records "
                                                  f"event {head.last_event_id} (the last events were removed)")
        if head is not None and head.events != count:
            raise Broken(head.last_event_id, "-", f"the head counts {head.events} events, the chain has {count}")
        if head is None and AuditEvent.objects.exists():
            raise Broken("-", "-", "events exist but the chain head is gone")
        if expected:
            event_id, [digest, *_] = min(expected.items())
            raise Broken(event_id, "-", f"digest {digest.name} recorded event {event_id} as number {digest.events}, "
                                        f"but the chain ends at event {last_id} with {count} events (events were "
                                        f"removed after that digest)")
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
