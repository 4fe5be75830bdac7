"""AuditEntry: one row per action attempt, written before the cloud is called and moved forward to its outcome."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.utils import timezone


class Action(models.TextChoices):
    EXTEND = "os-extend", "Extend"
    ATTACH = "os-attach", "Attach to host"
    DETACH = "os-detach", "Detach from host"
    SERVER_ATTACH = "server-attach", "Attach to server"
    SERVER_DETACH = "server-detach", "Detach from server"
    RETYPE = "os-retype", "Change type"
    UPLOAD = "os-volume_upload_image", "Upload to image"
    REVERT = "revert", "Revert to snapshot"


class Outcome(models.TextChoices):
    PENDING = "pending", "Pending"  # row written, cloud not answered yet
    ACCEPTED = "accepted", "Accepted"  # 202: the cloud took it; the volume is moving
    REJECTED = "rejected", "Rejected"  # the cloud refused it (fault)
    ERROR = "error", "Error"  # no answer: timeout, connection refused, expired token
    SUCCEEDED = "succeeded", "Succeeded"  # the volume settled with the result asked for
    FAILED = "failed", "Failed"  # the volume settled without it
    UNKNOWN = "unknown", "Unknown"  # could not be followed to the end (reason in `detail`)


FINAL_OUTCOMES = frozenset({Outcome.REJECTED, Outcome.ERROR, Outcome.SUCCEEDED, Outcome.FAILED, Outcome.UNKNOWN})
# The only moves the application may make: history moves forward, never back or sideways.
ALLOWED_MOVES: dict[str, frozenset[str]] = {
    Outcome.PENDING: frozenset({Outcome.ACCEPTED, Outcome.REJECTED, Outcome.ERROR, Outcome.UNKNOWN}),
    Outcome.ACCEPTED: frozenset({Outcome.SUCCEEDED, Outcome.FAILED, Outcome.UNKNOWN}),
}


class AppendOnlyError(Exception):
    pass


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    def for_volume(self, project_id: str, volume_id: str) -> "AuditEntryQuerySet":
        return self.filter(project_id=project_id, volume_id=volume_id)

    def unsettled(self) -> "AuditEntryQuerySet":
        return self.filter(outcome__in=[Outcome.PENDING, Outcome.ACCEPTED])

    def delete(self) -> Any:
        raise AppendOnlyError("Audit rows are never deleted.")


class AuditEntry(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    requested_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    # Who: the Keystone identity behind the request, and where it came from.
    actor_id = models.CharField(max_length=64, db_index=True)
    actor_name = models.CharField(max_length=255)
    actor_domain = models.CharField(max_length=255, blank=True)
    project_id = models.CharField(max_length=64, db_index=True)
    project_name = models.CharField(max_length=255, blank=True)
    is_admin = models.BooleanField(default=False)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)

    # What: the volume, the action, and what was asked (sanitized: no tokens, no free-form blobs).
    cloud = models.CharField(max_length=255, blank=True, help_text="Keystone URL of the cloud acted on")
    volume_id = models.CharField(max_length=64, db_index=True)
    volume_name = models.CharField(max_length=255, blank=True)
    action = models.CharField(max_length=32, choices=Action.choices, db_index=True)
    parameters = models.JSONField(default=dict, blank=True)
    microversion = models.CharField(max_length=16, blank=True)
    server_id = models.CharField(max_length=64, blank=True)
    attachment_id = models.CharField(max_length=64, blank=True)
    snapshot_id = models.CharField(max_length=64, blank=True)
    image_id = models.CharField(max_length=64, blank=True)

    # How it went.
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING, db_index=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    fault_name = models.CharField(max_length=64, blank=True)
    detail = models.TextField(blank=True, help_text="The cloud's message, or why the outcome is what it is")
    status_before = models.CharField(max_length=32, blank=True)
    status_after = models.CharField(max_length=32, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ("-requested_at", "-id")
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["project_id", "volume_id", "-requested_at"], name="audit_volume_history")]

    def __str__(self) -> str:
        return f"{self.actor_name} {self.action} {self.volume_name or self.volume_id}: {self.outcome}"

    @property
    def is_final(self) -> bool:
        return self.outcome in FINAL_OUTCOMES

    def save(self, *args: Any, **kwargs: Any) -> None:
        # New rows only: later changes go through `advance`, which moves the outcome forward and nothing else.
        if self.pk is not None and not kwargs.pop("_advance", False):
            raise AppendOnlyError("Audit rows are append-only; use AuditEntry.advance().")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("Audit rows are never deleted.")

    def advance(self, outcome: str, **facts: Any) -> bool:
        """Move the outcome forward (pending → accepted/rejected/error/unknown; accepted → final), recording
        the facts of that step. Conditional on the row still holding the outcome we saw, so a stream and a
        watcher resolving the same row at once cannot both win. Returns whether this call moved it."""
        allowed = ALLOWED_MOVES.get(self.outcome, frozenset())
        if outcome not in allowed:
            return False
        changeable = {
            "answered_at", "settled_at", "http_status", "request_id", "fault_name", "detail", "status_after",
            "microversion", "image_id", "attachment_id", "server_id",
        }
        unknown = set(facts) - changeable
        if unknown:
            raise AppendOnlyError(f"Not changeable after the attempt: {sorted(unknown)}")
        moved = AuditEntry.objects.filter(pk=self.pk, outcome=self.outcome).update(outcome=outcome, **facts)
        if moved:
            self.outcome = outcome
            for key, value in facts.items():
                setattr(self, key, value)
        return bool(moved)
