"""Volume actions: every change the dashboard asks of the cloud, and the audit row for every attempt.

`perform` writes the AuditEntry (pending) and commits it before the cloud is called, moves it to accepted /
rejected / error / unknown with the cloud's answer, and once that is committed hands an accepted row to the
watcher that records its final outcome when the volume settles. What each action sends is its specification's
business (volumes.actions); this module is the same for all of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from volpanel.audit import actors
from volpanel.audit.models import AuditEntry, Outcome
from volpanel.openstack.cinder import ActionResult, Volume
from volpanel.openstack.cloud import Cloud
from volpanel.openstack.errors import CloudError
from volpanel.openstack.session import Credentials
from volpanel.volumes import selectors, watchers
from volpanel.volumes.outcomes import Judge


@dataclass(frozen=True)
class Actor:
    credentials: Credentials
    source_ip: str | None
    user_agent: str
    idempotency_key: str = ""


@dataclass(frozen=True)
class Sent:
    """What the cloud answered to an accepted action."""

    status: int
    request_id: str
    microversion: str = ""
    image_id: str = ""
    attachment_id: str = ""
    snapshot_id: str = ""


def _object(body: dict[str, Any], key: str) -> dict[str, Any]:
    found = body.get(key)
    return found if isinstance(found, dict) else {}


def from_result(result: ActionResult) -> Sent:
    """A Cinder answer (an upload's carries the new image's id, a snapshot's creation the snapshot's)."""
    return Sent(status=result.status, request_id=result.request_id, microversion=result.microversion,
                image_id=str(_object(result.body, "os-volume_upload_image").get("image_id") or ""),
                snapshot_id=str(_object(result.body, "snapshot").get("id") or ""))


@dataclass(frozen=True)
class Audited:
    """One kind of audited call: what AuditEntry.action holds for it, and everything said about such rows. The
    kinds themselves are the registry's (volumes.actions)."""

    name: str  # AuditEntry.action: the API's own name for the call where it has one
    label: str  # how History and the audit trail name it
    judge: Judge  # its final outcome from the settled result
    cadf_action: str  # CADF taxonomy: the verb, then the API's name (keystonemiddleware's form)
    api_path: str  # the request's path below the service's endpoint ({volume_id}, {server_id} from the row)
    seed_weight: int  # how often `manage.py seed_audit` makes one, out of the weights' sum
    # The instance action Nova records after such a call succeeds (an in-use extend: extend_volume). Viewers see
    # it arrive, or see that it did not; the row's outcome stays Cinder's.
    nova_event: str = ""


@dataclass(frozen=True)
class Request:
    """One audited call, ready to send: its kind (the row's action and how its outcome will be judged), what its
    row records and how the cloud is asked. Built by an action's specification from the tenant's cleaned form."""

    kind: Audited
    parameters: dict[str, Any]
    send: Callable[[], Sent]
    server_id: str = ""
    attachment_id: str = ""
    snapshot_id: str = ""  # the snapshot it acts on, when known before the call (a new one's comes with the answer)
    reason: str = ""  # an admin action's reason, in the admin's words
    repairs: AuditEntry | None = None  # the failed attempt an admin action repairs


UNANSWERED_GUIDANCE = ("The request was sent but no complete answer came back, so the cloud may still carry it "
                       "out: check the volume's status and History before trying again.")


def earlier_attempt(actor: Actor, volume_id: str, actions: tuple[str, ...]) -> AuditEntry | None:
    """The attempt already made from the same rendered form (this volume, one of the form's `actions`), marked
    `duplicate`, or None. A key found on another person's row, volume or action raises DuplicateKeyError."""
    if not actor.idempotency_key:
        return None
    earlier = AuditEntry.objects.filter(idempotency_key=actor.idempotency_key).first()
    return _duplicate_of(earlier, actor, volume_id, actions) if earlier is not None else None


def _duplicate_of(earlier: AuditEntry, actor: Actor, volume_id: str, actions: tuple[str, ...]) -> AuditEntry:
    if earlier.project_id != actor.credentials.project_id or earlier.actor_id != actor.credentials.user_id:
        # A key is one person's form: anyone else presenting it gets nothing of the other row.
        raise DuplicateKeyError("This form was already used by someone else; reload the page.")
    if earlier.volume_id != volume_id or earlier.action not in actions:
        # One rendered form, one volume and one action: its key posted elsewhere is not that form posted again.
        raise DuplicateKeyError("This form's key was already used for another action; reload the page.")
    earlier.duplicate = True
    return earlier


class DuplicateKeyError(Exception):
    pass


def perform(*, cloud: Cloud, actor: Actor, volume: Volume, request: Request) -> AuditEntry:
    """Attempt one action on the volume, audited from before the cloud hears of it to the cloud's answer."""
    creds = actor.credentials
    # A form posted before (same idempotency key) is answered by the view with that attempt; a twin post racing
    # this one is caught by the key's unique constraint below. Either way the cloud hears of it once.
    entry = AuditEntry(
        actor_id=creds.user_id, actor_name=creds.user_name, actor_domain=creds.user_domain,
        project_id=creds.project_id, project_name=creds.project_name, is_admin=creds.is_admin,
        source_ip=actor.source_ip, user_agent=actor.user_agent[:512], cloud=cloud.config.auth_url,
        volume_id=volume.id, volume_name=volume.name, action=request.kind.name, parameters=request.parameters,
        server_id=request.server_id, attachment_id=request.attachment_id, snapshot_id=request.snapshot_id,
        status_before=volume.status, idempotency_key=actor.idempotency_key or None,
        volume_project_id=volume.project_id, reason=request.reason, repairs=request.repairs,
    )
    # Written and committed before the cloud hears of it: no action without its row. Durable: inside a caller's
    # transaction the row would not be committed yet (and could be rolled back after the cloud acted), so that
    # is refused (RuntimeError) before anything is sent.
    try:
        with transaction.atomic(durable=True):
            entry.save()
    except IntegrityError:
        # A twin post of the same form won the race to the unique key: it alone calls the cloud.
        earlier = AuditEntry.objects.get(idempotency_key=actor.idempotency_key)
        return _duplicate_of(earlier, actor, volume.id, (request.kind.name,))
    try:
        sent = request.send()
    except CloudError as exc:
        if exc.maybe_delivered:
            # No answer, but the request went out: the cloud may be carrying it out. Neither "error" nor
            # "accepted" would be true; the tenant is told to look before trying again.
            entry.advance(Outcome.UNKNOWN, fault_name=exc.kind, settled_at=timezone.now(),
                          detail=f"{exc.first_line} {UNANSWERED_GUIDANCE}")
            selectors.forget_changed_by(entry)
            return entry
        outcome = Outcome.REJECTED if exc.kind == "fault" else Outcome.ERROR
        entry.advance(
            outcome, answered_at=timezone.now(), http_status=exc.status, request_id=exc.request_id,
            fault_name=exc.fault_name or exc.kind, detail=exc.first_line, settled_at=timezone.now(),
            status_after=volume.status,
        )
        return entry
    except BaseException as exc:
        entry.advance(Outcome.ERROR, answered_at=timezone.now(), settled_at=timezone.now(),
                      detail=f"volpanel failed before the cloud answered ({type(exc).__name__}).")
        raise
    facts: dict[str, Any] = {"answered_at": timezone.now(), "http_status": sent.status,
                             "request_id": sent.request_id, "microversion": sent.microversion}
    if sent.image_id:
        facts["image_id"] = sent.image_id
    if sent.attachment_id:
        facts["attachment_id"] = sent.attachment_id
    if sent.snapshot_id:
        facts["snapshot_id"] = sent.snapshot_id
    entry.advance(Outcome.ACCEPTED, **facts)
    # Pages reuse the project's snapshots, quota and servers for a few seconds (selectors.SIDE_TTL): not once
    # volpanel itself has changed them.
    selectors.forget_changed_by(entry)
    # Should this process's watcher stop early, its reconciler can still judge the row with the actor's token.
    actors.remember(cloud.config.auth_url, creds)
    # The watcher starts once the row is committed: a watcher must never judge a row the database may yet lose,
    # and calling a service inside a transaction (a test's) starts no thread.
    transaction.on_commit(lambda: watchers.follow(cloud, entry, request.kind.judge, request.kind.nova_event))
    return entry
