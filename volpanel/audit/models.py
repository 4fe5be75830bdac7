"""AuditEntry: one row per action attempt, written before the cloud is called and moved forward to its outcome;
AuditEvent: the hash chain of every write to those rows (tamper evidence; hashed and walked by audit.chain)."""

from __future__ import annotations

import ipaddress
import json
import uuid
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any

from django.db import connections, models, router, transaction
from django.utils import timezone

from volpanel.audit.chain import GENESIS_HASH, canonical_json, jsonable, stored_event_hash


class Outcome(models.TextChoices):
    PENDING = "pending", "Pending"  # row written, cloud not answered yet
    ACCEPTED = "accepted", "Accepted"  # 202: the cloud took it; the volume is moving
    REJECTED = "rejected", "Rejected"  # the cloud refused it (fault)
    ERROR = "error", "Error"  # no answer: timeout, connection refused, expired token
    SUCCEEDED = "succeeded", "Succeeded"  # the volume settled with the result asked for
    FAILED = "failed", "Failed"  # the volume settled without it
    UNKNOWN = "unknown", "Unknown"  # could not be followed to the end (reason in `detail`)


FINAL_OUTCOMES = frozenset({Outcome.REJECTED, Outcome.ERROR, Outcome.SUCCEEDED, Outcome.FAILED, Outcome.UNKNOWN})
# What an admin may open a repair from (issue 16): attempts that left something to put right, or that nobody
# knows the end of.
REPAIRABLE_OUTCOMES = frozenset({Outcome.FAILED, Outcome.REJECTED, Outcome.UNKNOWN})
# The only moves the application may make: history moves forward, never back or sideways.
ALLOWED_MOVES: dict[str, frozenset[str]] = {
    Outcome.PENDING: frozenset({Outcome.ACCEPTED, Outcome.REJECTED, Outcome.ERROR, Outcome.UNKNOWN}),
    Outcome.ACCEPTED: frozenset({Outcome.SUCCEEDED, Outcome.FAILED, Outcome.UNKNOWN}),
}


# What `advance` may record after the attempt; everything else on a row is fixed when it is written.
CHANGEABLE_FIELDS = frozenset({
    "answered_at", "settled_at", "http_status", "request_id", "fault_name", "detail", "status_after",
    "microversion", "image_id", "attachment_id", "server_id", "snapshot_id",
})


class AppendOnlyError(Exception):
    pass


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    def for_volume(self, project_id: str, volume_id: str) -> AuditEntryQuerySet:
        """The volume's History for a project: its own attempts, and a cloud administrator's actions on the volume
        while it was this project's (`volume_project_id`; docs/audit.md, "What a tenant sees of a repair").
        Never another project's attempts."""
        return self.filter(models.Q(project_id=project_id) | models.Q(volume_project_id=project_id),
                           volume_id=volume_id)

    def unsettled(self) -> AuditEntryQuerySet:
        return self.filter(outcome__in=[Outcome.PENDING, Outcome.ACCEPTED])

    def delete(self) -> Any:
        raise AppendOnlyError("Audit rows are never deleted.")


class AuditEntry(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    requested_at = models.DateTimeField(default=timezone.now, editable=False)
    answered_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    # Who: the Keystone identity behind the request, and where it came from.
    actor_id = models.CharField(max_length=64)
    actor_name = models.CharField(max_length=255)
    actor_domain = models.CharField(max_length=255, blank=True)
    project_id = models.CharField(max_length=64)
    project_name = models.CharField(max_length=255, blank=True)
    is_admin = models.BooleanField(default=False)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)

    # What: the volume, the action, and what was asked (sanitized: no tokens, no free-form blobs).
    cloud = models.CharField(max_length=255, blank=True, help_text="Keystone URL of the cloud acted on")
    volume_id = models.CharField(max_length=64)
    volume_name = models.CharField(max_length=255, blank=True)
    # The audited call's name; volumes.actions.AUDITED says what each is (label, CADF action, judge).
    action = models.CharField(max_length=32)
    parameters = models.JSONField(default=dict, blank=True)
    microversion = models.CharField(max_length=16, blank=True)
    server_id = models.CharField(max_length=64, blank=True)
    attachment_id = models.CharField(max_length=64, blank=True)
    snapshot_id = models.CharField(max_length=64, blank=True)
    image_id = models.CharField(max_length=64, blank=True)

    # How it went.
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    fault_name = models.CharField(max_length=64, blank=True)
    detail = models.TextField(blank=True, help_text="The cloud's message, or why the outcome is what it is")
    status_before = models.CharField(max_length=32, blank=True)
    status_after = models.CharField(max_length=32, blank=True)
    # One per rendered action form: a double click or a second tab posting the same form finds this row
    # instead of calling the cloud again (the database's unique constraint decides between racing posts).
    idempotency_key = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)

    # Admin actions (issue 16), fixed when the row is written like everything above. An admin acts on volumes of
    # other projects: `project_id` stays the actor's, `volume_project_id` is the volume's.
    volume_project_id = models.CharField(max_length=64, blank=True, db_default="")
    reason = models.TextField(blank=True, db_default="",
                              help_text="Why an admin acted, in their words (required for repairs)")
    # The failed attempt this row repairs. Only the repair names the link, at insert; the failed row finds its
    # repairs through `repaired_by`, so no row changes after the fact. By uuid, as exports name rows.
    repairs = models.ForeignKey("self", to_field="uuid", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="repaired_by", editable=False)

    objects = AuditEntryQuerySet.as_manager()
    # Not stored: set on a row found again by its form's idempotency key, so the answer says it was not re-sent.
    duplicate = False
    # Not stored: set by the History of another project than the actor's (selectors.history) — a cloud
    # administrator's action on the project's volume, shown without the administrator's name.
    by_cloud_admin = False

    class Meta:
        app_label = "volpanel"  # the tables and migrations stay the volpanel app's (volpanel/migrations/)
        ordering = ("-requested_at", "-id")
        verbose_name_plural = "audit entries"
        # Every filter of the audit list leads an index that continues with the list's keyset order, so a
        # filtered page is one index range read newest first; docs/audit.md shows the query plans.
        indexes = [
            models.Index(fields=["project_id", "volume_id", "-requested_at"], name="audit_volume_history"),
            models.Index(fields=["requested_at", "id"], name="audit_keyset"),
            # The chart's per-day counts by outcome read this index alone, never the table.
            models.Index(fields=["requested_at", "outcome"], name="audit_day_outcome"),
            models.Index(fields=["actor_name", "requested_at", "id"], name="audit_by_actor_name"),
            models.Index(fields=["actor_id", "requested_at", "id"], name="audit_by_actor_id"),
            models.Index(fields=["project_name", "requested_at", "id"], name="audit_by_project_name"),
            models.Index(fields=["project_id", "requested_at", "id"], name="audit_by_project_id"),
            models.Index(fields=["volume_id", "requested_at", "id"], name="audit_by_volume"),
            models.Index(fields=["action", "requested_at", "id"], name="audit_by_action"),
            models.Index(fields=["outcome", "requested_at", "id"], name="audit_by_outcome"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_name} {self.action} {self.volume_name or self.volume_id}: {self.outcome}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # New rows only: later changes go through `advance`, which moves the outcome forward and nothing else.
        if self.pk is not None and not kwargs.pop("_advance", False):
            raise AppendOnlyError("Audit rows are append-only; use AuditEntry.advance().")
        with transaction.atomic():
            super().save(*args, **kwargs)
            # Chain what the database holds, not what we handed it (an IPv6 address comes back normalized): read
            # back unless every value is one the database returns unchanged.
            stored = self if all(kept_as_given(f, getattr(self, f.attname)) for f in _ROW_FIELDS) else (
                AuditEntry.objects.get(pk=self.pk))
            AuditEvent.append(self, EventKind.REQUESTED, stored.outcome, row_facts(stored))

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("Audit rows are never deleted.")

    @property
    def is_final(self) -> bool:
        return self.outcome in FINAL_OUTCOMES

    def advance(self, outcome: str, **facts: Any) -> bool:
        """Move the outcome forward (pending → accepted/rejected/error/unknown; accepted → final), recording
        the facts of that step. Conditional on the row still holding the outcome we saw, so a stream and a
        watcher resolving the same row at once cannot both win. Returns whether this call moved it."""
        allowed = ALLOWED_MOVES.get(self.outcome, frozenset())
        if outcome not in allowed:
            return False
        unknown = set(facts) - CHANGEABLE_FIELDS
        if unknown:
            raise AppendOnlyError(f"Not changeable after the attempt: {sorted(unknown)}")
        with transaction.atomic():
            # The chain head is locked before the conditional UPDATE, so racing resolvers queue here and the
            # loser's UPDATE matches nothing: one move, one event.
            head = AuditChainHead.locked()
            moved = AuditEntry.objects.filter(pk=self.pk, outcome=self.outcome).update(outcome=outcome, **facts)
            if moved:
                stored = facts if all(kept_as_given(_FIELDS_BY_NAME[k], v) for k, v in facts.items()) else (
                    AuditEntry.objects.filter(pk=self.pk).values(*facts).get())
                kind = EventKind.SETTLED if outcome in FINAL_OUTCOMES else EventKind.ANSWERED
                AuditEvent.append(self, kind, outcome, {k: jsonable(v) for k, v in stored.items()}, head=head)
        if moved:
            self.outcome = outcome
            for key, value in facts.items():
                setattr(self, key, value)
        return bool(moved)


# Fields added after rows were chained, with the value such a row holds: its 'requested' event does not name
# them, and the chain's replay (audit.verify) must read that as the default, not as a changed row.
LATER_FIELDS: dict[str, Any] = {"volume_project_id": "", "reason": "", "repairs": None}


def row_facts(entry: AuditEntry) -> dict[str, Any]:
    """Everything a row holds except its id and outcome (the outcome is the event's own field)."""
    return {f.name: jsonable(getattr(entry, f.attname)) for f in _ROW_FIELDS}


_ROW_FIELDS = [f for f in AuditEntry._meta.concrete_fields if f.name not in ("id", "outcome")]
_FIELDS_BY_NAME = {f.name: f for f in _ROW_FIELDS}


def kept_as_given(field: models.Field[Any, Any], value: Any) -> bool:
    """Whether every database volpanel runs on gives `value` back unchanged in `field`, as the chain would record
    it (jsonable, canonical JSON), so that the write need not be read back before it is chained. False when in
    doubt: the caller reads the row back."""
    if value is None:
        return field.null
    if isinstance(field, models.DateTimeField):
        return isinstance(value, datetime) and value.utcoffset() is not None  # stored to the microsecond
    if isinstance(field, models.GenericIPAddressField):
        # IPv4 as the address's own text; IPv6 comes back in the database's normal form.
        return type(value) is str and ":" not in value and str(ipaddress.ip_address(value)) == value
    if isinstance(field, (models.CharField, models.TextField)):
        return type(value) is str
    if isinstance(field, models.BooleanField):
        return type(value) is bool
    if isinstance(field, models.IntegerField):
        return type(value) is int
    if isinstance(field, (models.UUIDField, models.ForeignKey)):
        return isinstance(value, uuid.UUID)
    if isinstance(field, models.JSONField):
        try:
            return canonical_json(json.loads(json.dumps(value))) == canonical_json(value)
        except (TypeError, ValueError):
            return False
    return False


class EventKind(models.TextChoices):
    REQUESTED = "requested", "Requested"  # the row was written (its whole content is in the facts)
    ANSWERED = "answered", "Answered"  # the cloud took the action (accepted)
    SETTLED = "settled", "Settled"  # a final outcome was recorded


class AuditChainHead(models.Model):
    """The one row every writer locks to append to the chain: it serializes appends on PostgreSQL
    (SELECT ... FOR UPDATE) and SQLite (BEGIN IMMEDIATE), and remembers the tail so a deleted last event shows."""

    last_event_id = models.BigIntegerField(null=True)
    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    events = models.BigIntegerField(default=0)

    class Meta:
        app_label = "volpanel"
        verbose_name = "audit chain head"

    def __str__(self) -> str:
        return f"{self.events} events, last {self.last_hash[:12]}"

    @classmethod
    def locked(cls) -> AuditChainHead:
        """The head, locked until the caller's transaction ends. Call inside transaction.atomic()."""
        head = cls._select_locked()
        if head is None:  # the trail's first write (two first writers: one insert wins, both lock it)
            cls.objects.get_or_create(pk=1)
            head = cls._select_locked()
            assert head is not None
        return head

    # Every audit write locks the head and moves it on. Written as SQL: through the ORM, building these two
    # statements took about as much CPU as the rest of the append (bench/action_profile.py, docs/PERFORMANCE.md).
    _COLUMNS = ("id", "last_event_id", "last_hash", "events")

    @classmethod
    def _select_locked(cls) -> AuditChainHead | None:
        db = router.db_for_write(cls)
        connection = connections[db]
        # SELECT ... FOR UPDATE where there is such a thing (PostgreSQL); SQLite's write transactions begin
        # IMMEDIATE (settings), which already serializes them.
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {', '.join(cls._COLUMNS)} FROM {connection.ops.quote_name(cls._meta.db_table)} "
                           f"WHERE id = %s{lock}", [1])
            row = cursor.fetchone()
        return None if row is None else cls.from_db(db, list(cls._COLUMNS), row)

    def move_to(self, event: AuditEvent) -> None:
        """Make `event` the chain's last (the caller holds the lock, in the transaction that appended it)."""
        self.last_event_id, self.last_hash, self.events = event.pk, event.hash, self.events + 1
        connection = connections[router.db_for_write(type(self))]
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {connection.ops.quote_name(self._meta.db_table)} "
                           "SET last_event_id = %s, last_hash = %s, events = %s WHERE id = %s",
                           [self.last_event_id, self.last_hash, self.events, self.pk])


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def delete(self) -> Any:
        raise AppendOnlyError("Audit events are never deleted.")

    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("Audit events are never changed.")


class AuditEvent(models.Model):
    """One write to an AuditEntry, linked to the previous event of the whole trail by its hash."""

    entry = models.ForeignKey(AuditEntry, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    # Canonical JSON text, not a JSONField: the hash covers these exact bytes (jsonb would reorder keys).
    facts = models.TextField()
    created_at = models.DateTimeField(editable=False)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        app_label = "volpanel"
        ordering = ("id",)

    def __str__(self) -> str:
        return f"{self.kind} {self.outcome} ({self.hash[:12]})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("Audit events are never deleted.")

    @staticmethod
    def compute_hash(prev_hash: str, entry_uuid: str, kind: str, outcome: str, facts: str, created_at: str) -> str:
        return stored_event_hash(prev_hash, entry_uuid, kind, outcome, facts, created_at)

    def expected_hash(self, entry_uuid: Any) -> str:
        return self.compute_hash(self.prev_hash, str(entry_uuid), self.kind, self.outcome, self.facts,
                                 jsonable(self.created_at))

    @classmethod
    def append(cls, entry: AuditEntry, kind: str, outcome: str, facts: dict[str, Any],
               head: AuditChainHead | None = None) -> AuditEvent:
        """Chain one event; must run in the transaction that changed the row."""
        head = head or AuditChainHead.locked()
        # Whole microseconds in UTC: what every backend stores and gives back unchanged.
        event = cls(entry=entry, kind=kind, outcome=outcome, facts=canonical_json(facts),
                    created_at=timezone.now().astimezone(dt_timezone.utc), prev_hash=head.last_hash)
        event.hash = event.expected_hash(entry.uuid)
        event.save()
        head.move_to(event)
        return event
