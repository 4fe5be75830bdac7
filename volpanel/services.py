"""Volume services: every call to the cloud the dashboard makes, and the audit row for every action attempt.

Views call `volume_<action>(*, ...)`; each writes its AuditEntry (pending) before the cloud is called, moves it
to accepted / rejected / error with the cloud's answer, and hands accepted ones to the watcher that records
the final outcome once the volume settles."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any, Callable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.utils import timezone

from volpanel import actors, rules
from volpanel.models import Action, AuditEntry, Outcome
from volpanel.openstack.cinder import ActionResult, Limits, Snapshot, UserMessage, Volume, VolumeType
from volpanel.openstack.cloud import Cloud
from volpanel.openstack.errors import CloudError
from volpanel.openstack.glance import Image
from volpanel.openstack.nova import InstanceAction, Server
from volpanel.openstack.session import CloudConfig, Credentials, token_valid

log = logging.getLogger(__name__)
_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="volpanel-fetch")


def cloud_config() -> CloudConfig:
    o = settings.OPENSTACK
    return CloudConfig(
        auth_url=o["auth_url"], region_name=o["region_name"], interface=o["interface"],
        user_domain_name=o["user_domain_name"], project_domain_name=o["project_domain_name"],
        verify=o["verify"], timeout=o["timeout"], total_timeout=o["total_timeout"],
        max_body_bytes=o["max_body_bytes"],
    )


def connect(credentials: Credentials) -> Cloud:
    """The user's Cloud, shared by every request with the same token in this process."""
    return Cloud.connect(cloud_config(), credentials)


def disconnect(credentials: Credentials) -> None:
    """Drop the user's session from this process (logout, or a token the cloud refused)."""
    Cloud.forget(cloud_config(), credentials)


@dataclass(frozen=True)
class Actor:
    credentials: Credentials
    source_ip: str | None
    user_agent: str
    idempotency_key: str = ""


# --- reads ----------------------------------------------------------------------------------------------
def cloud_features(cloud: Cloud) -> rules.CloudFeatures:
    return rules.CloudFeatures(
        versions=cloud.cinder.versions(),
        has_compute=cloud.has_service("compute"),
        has_image=cloud.has_service("image"),
        snapshot_upload=settings.VOLPANEL_SNAPSHOT_UPLOAD,
    )


def list_volumes(cloud: Cloud) -> list[Volume]:
    return cloud.cinder.list_volumes()


@dataclass
class VolumePage:
    """Everything the volume page shows, fetched concurrently."""

    volume: Volume
    features: rules.CloudFeatures
    snapshots: list[Snapshot]
    types: list[VolumeType]
    limits: Limits | None
    servers: list[Server]
    messages: list[UserMessage]
    instance_actions: dict[str, list[InstanceAction]] = field(default_factory=dict)
    # An image id maps to None once Glance says it is gone; an id absent here means Glance did not answer.
    images: dict[str, Image | None] = field(default_factory=dict)
    servers_problem: str = ""  # why the server list is empty when Nova did not answer

    @property
    def server_names(self) -> dict[str, str]:
        return {s.id: s.name for s in self.servers}

    @property
    def latest_snapshot(self) -> Snapshot | None:
        return rules.latest_snapshot(self.snapshots)

    @property
    def availability(self) -> dict[str, rules.Availability]:
        v, f = self.volume, self.features
        return {
            "extend": rules.extend(v, f),
            "attach_server": rules.attach_to_server(v, f),
            "attach_host": rules.attach(v),
            "detach": rules.detach(v),
            "retype": rules.retype(v, [t.name for t in self.types]),
            "upload": rules.upload(v, f),
            "upload_snapshot": rules.upload_snapshot(v, self.snapshots, f),
            "revert": rules.revert(v, self.snapshots, f),
        }


def _optional(fn: Callable[[], Any], default: Any) -> Any:
    """A side panel the page can live without (quota, servers, messages): its failure must not break the page."""
    try:
        return fn()
    except CloudError as exc:
        if exc.kind == "auth":
            raise
        log.info("optional fetch failed: %s", exc)
        return default


class Recent:
    """A small per-process memo of cloud answers, each kept for at most `ttl` seconds."""

    def __init__(self, ttl: float, size: int = 2000) -> None:
        self.ttl, self.size = ttl, size
        self._items: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            found = self._items.get(key)
        if found is None or time.monotonic() - found[0] > self.ttl:
            return None
        return found[1]

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            if len(self._items) >= self.size:
                # Oldest first (dicts keep insertion order): a full memo sheds a tenth, not everything.
                for old in list(self._items)[: self.size // 10]:
                    del self._items[old]
            self._items.pop(key, None)
            self._items[key] = (time.monotonic(), value)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


# Volume types, per cloud and project (private types are granted per project). Types are created and removed
# by cloud admins, rarely: a new type shows within a minute, and a type removed in that minute is refused by
# Cinder itself when someone picks it (the retype is then audited as rejected, with Cinder's message).
TYPES_TTL = 60.0
_types = Recent(TYPES_TTL)
# A volume's user messages, per (cloud, project, volume, updated_at). Cinder writes such a message when an
# operation on the volume fails, and that operation has moved the volume's status (so its updated_at) too: an
# unchanged updated_at means no new message. Two guards: an answer is kept only when fetched well after that
# updated_at (Cinder may save the status a moment before the message), and for at most a minute (messages
# also expire, and a clock off by more than the grace only costs an older list for that minute).
MESSAGES_TTL = 60.0
MESSAGES_GRACE = 10.0
_messages = Recent(MESSAGES_TTL)


def _scope(cloud: Cloud) -> tuple[str, str]:
    return cloud.config.auth_url, cloud.credentials.project_id


def volume_types(cloud: Cloud) -> list[VolumeType]:
    key = _scope(cloud)
    types = _types.get(key)
    if types is None:
        types = cloud.cinder.list_types()
        _types.put(key, types)
    return types


def _settled_for(updated_at: str | None) -> float:
    """Seconds since the volume last changed, by the cloud's clock; 0 when unknown."""
    if not updated_at:
        return 0.0
    try:
        changed = datetime.fromisoformat(updated_at.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if changed.tzinfo is None:
        changed = changed.replace(tzinfo=dt_timezone.utc)
    return (timezone.now() - changed).total_seconds()


def _messages_key(cloud: Cloud, volume: Volume) -> tuple[str, str, str, str | None]:
    return (*_scope(cloud), volume.id, volume.updated_at)


# The updated_at each volume had when this process last asked for its messages. When the memo holds that
# answer, the volume GET comes first and tells whether it still applies; otherwise (a volume not seen lately, or
# one that changed moments ago) the messages are fetched alongside the volume, not after it.
_seen = Recent(MESSAGES_TTL)


def _messages_memoized(cloud: Cloud, volume_id: str) -> bool:
    last = _seen.get((*_scope(cloud), volume_id))
    return last is not None and _messages.get((*_scope(cloud), volume_id, last[0])) is not None


def user_messages(cloud: Cloud, volume: Volume, fetched: Future[Any] | None = None) -> list[UserMessage]:
    """The volume's user messages, reused while the volume has not changed (see MESSAGES_TTL). `fetched` is a
    request already under way for them."""
    key = _messages_key(cloud, volume)
    found = _messages.get(key)
    if found is not None:
        _seen.put(key[:3], (volume.updated_at,))
        return found
    if fetched is not None:
        messages = fetched.result()
    else:
        messages = _optional(lambda: cloud.cinder.user_messages(volume.id), None)
    if messages is None:
        return []  # not kept: the next view asks again
    _seen.put(key[:3], (volume.updated_at,))
    # A volume never changed since its creation carries no updated_at: its age then counts from created_at.
    if not volume.is_transitional and _settled_for(volume.updated_at or volume.created_at) >= MESSAGES_GRACE:
        _messages.put(key, messages)
    return messages


# Which volumes each token read lately (page loads, action answers). A status stream hands a new viewer what a
# watcher fetched with another viewer's token only once the newcomer's own token has read the volume: a token
# the cloud revoked (someone removed from the project) or a session outliving its token gets nothing from it.
# The page that opens a stream has just read the volume, so a stream normally costs no Cinder call.
READ_PROOF_TTL = 60.0
_reads = Recent(READ_PROOF_TTL, size=10_000)


def _read_by(cloud: Cloud, volume_id: str) -> None:
    _reads.put((cloud.config.auth_url, cloud.token_id, volume_id), True)


def prove_access(cloud: Cloud, volume_id: str) -> None:
    """Return if this token may read the volume: it read it within READ_PROOF_TTL, or it reads it now (one
    volume GET). Raises the cloud's CloudError otherwise (expired or revoked token, not this project's)."""
    if cloud.expired:
        raise CloudError("auth", "The token has expired.", service="identity", status=401)
    if _reads.get((cloud.config.auth_url, cloud.token_id, volume_id)) is None:
        cloud.cinder.get_volume(volume_id)
        _read_by(cloud, volume_id)


# Tokens Keystone confirmed lately (admins reading the audit trail, whose pages ask the cloud nothing).
TOKEN_CHECK_TTL = 60.0
_honoured = Recent(TOKEN_CHECK_TTL, size=1000)


def token_honoured(credentials: Credentials) -> bool:
    """Whether the token is still good: not past its expiry, and not revoked as far as Keystone said within
    TOKEN_CHECK_TTL. If Keystone cannot be asked, the expiry alone decides (logged)."""
    cloud = connect(credentials)
    if cloud.expired:
        return False
    key = (cloud.config.auth_url, cloud.token_id)
    if _honoured.get(key) is not None:
        return True
    try:
        valid = token_valid(cloud.config, credentials)
    except CloudError as exc:
        if exc.kind != "auth":
            log.warning("could not ask Keystone whether a token is still valid: %s", exc)
            return True
        valid = False  # Keystone refused the token even as the caller of its own check
    if valid:
        _honoured.put(key, True)
    else:
        disconnect(credentials)
    return valid


def clear_memos() -> None:
    """Forget every memoized answer (tests start from a cold process with it)."""
    _types.clear()
    _messages.clear()
    _seen.clear()
    _reads.clear()
    _honoured.clear()


_UNANSWERED = object()


def _servers(cloud: Cloud) -> tuple[list[Server], str]:
    try:
        return cloud.nova.list_servers(), ""
    except CloudError as exc:
        if exc.kind == "auth":
            raise
        log.info("server list failed: %s", exc)
        return [], f"Compute (Nova) did not list your servers ({exc.first_line}); try again in a moment."


def load_volume_page(cloud: Cloud, volume_id: str, *, image_ids: list[str] | None = None) -> VolumePage:
    """Everything the volume page shows. In steady state that is three Cinder calls made at once (the volume,
    its snapshots, the project's limits) and Nova's server list; the version document and the volume types
    come from short memos, and the user messages are asked for again only once the volume has changed."""
    features = cloud_features(cloud)
    volume_f = _pool.submit(cloud.cinder.get_volume, volume_id)
    snaps_f = _pool.submit(cloud.cinder.list_snapshots, volume_id)
    limits_f = _pool.submit(_optional, cloud.cinder.get_limits, None)
    servers_f = _pool.submit(_servers, cloud) if features.has_compute else None
    types = _types.get(_scope(cloud))
    types_f = _pool.submit(volume_types, cloud) if types is None else None
    messages_f = None
    if not _messages_memoized(cloud, volume_id):
        messages_f = _pool.submit(_optional, lambda: cloud.cinder.user_messages(volume_id), None)
    volume = volume_f.result()
    _read_by(cloud, volume_id)
    servers, servers_problem = servers_f.result() if servers_f else ([], "")
    page = VolumePage(
        volume=volume, features=features, snapshots=snaps_f.result(),
        types=types_f.result() if types_f is not None else types,
        limits=limits_f.result(), messages=user_messages(cloud, volume, messages_f),
        servers=servers, servers_problem=servers_problem,
    )
    if features.has_compute and volume.attachments:
        # Nova's side of an in-use extend (extend_volume) shows on the server's instance actions.
        for server_id in {a.server_id for a in volume.attachments if a.server_id}:
            page.instance_actions[server_id] = _optional(lambda: cloud.nova.instance_actions(server_id), [])
    if features.has_image:
        for image_id in image_ids or []:
            image = _optional(lambda: cloud.glance.get_image(image_id), _UNANSWERED)
            if image is not _UNANSWERED:
                page.images[image_id] = image
    return page


def refresh_volume(cloud: Cloud, page: VolumePage) -> VolumePage:
    """The page after an action: the volume fetched again (one Cinder GET), everything else as just loaded;
    the status stream brings the rest once the volume moves on."""
    return replace(page, volume=cloud.cinder.get_volume(page.volume.id))


# --- actions --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sent:
    """What the cloud answered to an accepted action."""

    status: int
    request_id: str
    microversion: str = ""
    image_id: str = ""
    attachment_id: str = ""


def _from_result(result: ActionResult) -> Sent:
    upload = result.body.get("os-volume_upload_image")
    upload = upload if isinstance(upload, dict) else {}
    return Sent(status=result.status, request_id=result.request_id, microversion=result.microversion,
                image_id=str(upload.get("image_id") or ""))


def _attempt(
    *, cloud: Cloud, actor: Actor, volume: Volume, action: str, parameters: dict[str, Any],
    send: Callable[[], Sent], server_id: str = "", attachment_id: str = "", snapshot_id: str = "",
) -> AuditEntry:
    creds = actor.credentials
    # A form posted before (same idempotency key) is answered by the view with that attempt; a twin post racing
    # this one is caught by the key's unique constraint below. Either way the cloud hears of it once.
    entry = AuditEntry(
        actor_id=creds.user_id, actor_name=creds.user_name, actor_domain=creds.user_domain,
        project_id=creds.project_id, project_name=creds.project_name, is_admin=creds.is_admin,
        source_ip=actor.source_ip, user_agent=actor.user_agent[:512], cloud=cloud.config.auth_url,
        volume_id=volume.id, volume_name=volume.name, action=action, parameters=parameters,
        server_id=server_id, attachment_id=attachment_id, snapshot_id=snapshot_id,
        status_before=volume.status, idempotency_key=actor.idempotency_key or None,
    )
    # Written and committed before the cloud hears of it: no action without its row.
    try:
        entry.save()
    except IntegrityError:
        # A twin post of the same form won the race to the unique key: it alone calls the cloud.
        return _duplicate_of(AuditEntry.objects.get(idempotency_key=actor.idempotency_key), actor, volume.id, (action,))
    try:
        sent = send()
    except CloudError as exc:
        if exc.maybe_delivered:
            # No answer, but the request went out: the cloud may be carrying it out. Neither "error" nor
            # "accepted" would be true; the tenant is told to look before trying again.
            entry.advance(Outcome.UNKNOWN, fault_name=exc.kind, settled_at=timezone.now(),
                          detail=f"{exc.first_line} {UNANSWERED_GUIDANCE}")
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
    entry.advance(Outcome.ACCEPTED, **facts)
    # Should this process's watcher stop early, its reconciler can still judge the row with the actor's token.
    actors.remember(cloud.config.auth_url, creds)
    from volpanel import watchers

    watchers.follow(cloud, entry)
    return entry


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
    earlier.duplicate = True  # type: ignore[attr-defined]
    return earlier


class DuplicateKeyError(Exception):
    pass


def volume_extend(*, cloud: Cloud, actor: Actor, volume: Volume, new_size: int) -> AuditEntry:
    in_use = volume.status == "in-use"
    return _attempt(
        cloud=cloud, actor=actor, volume=volume, action=Action.EXTEND,
        parameters={"new_size": new_size, "old_size": volume.size},
        send=lambda: _from_result(cloud.cinder.extend(volume.id, new_size, in_use=in_use)),
        server_id=next((a.server_id for a in volume.attachments if a.server_id), "") if in_use else "",
    )


def volume_attach_host(*, cloud: Cloud, actor: Actor, volume: Volume, host_name: str, mountpoint: str,
                       mode: str) -> AuditEntry:
    return _attempt(
        cloud=cloud, actor=actor, volume=volume, action=Action.ATTACH,
        parameters={"host_name": host_name, "mountpoint": mountpoint, "mode": mode,
                    "attachments_before": _attachment_ids(volume)},
        send=lambda: _from_result(cloud.cinder.attach(volume.id, mountpoint, host_name=host_name, mode=mode)),
    )


def _attachment_ids(volume: Volume) -> list[str]:
    """The attachments a volume has before an attach: the outcome is judged by the one the attach adds."""
    return [a.attachment_id for a in volume.attachments]


def volume_attach_instance(*, cloud: Cloud, actor: Actor, volume: Volume, instance_uuid: str, mountpoint: str,
                           mode: str) -> AuditEntry:
    """Cinder-only bookkeeping attach by instance UUID (what Nova and bare-metal tooling call)."""
    return _attempt(
        cloud=cloud, actor=actor, volume=volume, action=Action.ATTACH,
        parameters={"instance_uuid": instance_uuid, "mountpoint": mountpoint, "mode": mode,
                    "attachments_before": _attachment_ids(volume)},
        send=lambda: _from_result(cloud.cinder.attach(volume.id, mountpoint, instance_uuid=instance_uuid,
                                                      mode=mode)),
        server_id=instance_uuid,
    )


def volume_attach_server(*, cloud: Cloud, actor: Actor, volume: Volume, server_id: str) -> AuditEntry:
    """Attach to a server through Nova, which owns server attachments in a real cloud."""

    def send() -> Sent:
        attachment = cloud.nova.attach_volume(server_id, volume.id)
        return Sent(status=200, request_id=attachment.request_id, attachment_id=attachment.id)

    return _attempt(cloud=cloud, actor=actor, volume=volume, action=Action.SERVER_ATTACH,
                    parameters={"server_id": server_id, "attachments_before": _attachment_ids(volume)}, send=send,
                    server_id=server_id)


def volume_detach(*, cloud: Cloud, actor: Actor, volume: Volume, attachment_id: str) -> AuditEntry:
    """Detach one attachment: through Nova when a server holds it, os-detach for a host attachment."""
    attachment = next(a for a in volume.attachments if a.attachment_id == attachment_id)
    if attachment.server_id and cloud_features(cloud).has_compute:
        server_id = attachment.server_id

        def send() -> Sent:
            return Sent(status=202, request_id=cloud.nova.detach_volume(server_id, volume.id))

        return _attempt(cloud=cloud, actor=actor, volume=volume, action=Action.SERVER_DETACH,
                        parameters={"attachment_id": attachment_id, "server_id": server_id}, send=send,
                        server_id=server_id, attachment_id=attachment_id)
    return _attempt(
        cloud=cloud, actor=actor, volume=volume, action=Action.DETACH,
        parameters={"attachment_id": attachment_id},
        send=lambda: _from_result(cloud.cinder.detach(volume.id, attachment_id)),
        attachment_id=attachment_id, server_id=attachment.server_id or "",
    )


def volume_retype(*, cloud: Cloud, actor: Actor, volume: Volume, new_type: str, migration_policy: str) -> AuditEntry:
    return _attempt(
        cloud=cloud, actor=actor, volume=volume, action=Action.RETYPE,
        parameters={"new_type": new_type, "old_type": volume.volume_type, "migration_policy": migration_policy},
        send=lambda: _from_result(cloud.cinder.retype(volume.id, new_type, migration_policy)),
    )


def volume_upload_image(*, cloud: Cloud, actor: Actor, volume: Volume, image_name: str, disk_format: str,
                        container_format: str, visibility: str, protected: bool,
                        snapshot_id: str = "") -> AuditEntry:
    params = {"image_name": image_name, "disk_format": disk_format, "container_format": container_format,
              "visibility": visibility, "protected": protected}
    if snapshot_id:
        params["snapshot_id"] = snapshot_id
    return _attempt(
        cloud=cloud, actor=actor, volume=volume, action=Action.UPLOAD, parameters=params,
        send=lambda: _from_result(cloud.cinder.upload_to_image(
            volume.id, image_name=image_name, disk_format=disk_format, container_format=container_format,
            visibility=visibility, protected=protected, snapshot_id=snapshot_id or None)),
        snapshot_id=snapshot_id,
    )


def volume_revert(*, cloud: Cloud, actor: Actor, volume: Volume, snapshot_id: str) -> AuditEntry:
    return _attempt(
        cloud=cloud, actor=actor, volume=volume, action=Action.REVERT, parameters={"snapshot_id": snapshot_id},
        send=lambda: _from_result(cloud.cinder.revert(volume.id, snapshot_id)), snapshot_id=snapshot_id,
    )


# --- settling -------------------------------------------------------------------------------------------
def judge(entry: AuditEntry, volume: Volume | None, image: Image | None = None,
          messages: list[UserMessage] | None = None) -> tuple[str, str] | None:
    """The final outcome of an accepted action from the settled result (not the status alone), or None
    while it is still moving. `volume` None means the volume is gone."""
    if volume is None:
        return Outcome.UNKNOWN, "The volume no longer exists."
    if volume.is_transitional:
        return None
    if entry.action == Action.UPLOAD and entry.image_id:
        if image is not None and image.status not in ("active", "killed", "deleted", "deactivated"):
            if volume.status in ("available", "in-use"):
                return None  # Cinder is done; Glance is still saving.
    failure = _user_message(entry, messages)
    params = entry.parameters or {}
    action = entry.action
    if action == Action.EXTEND:
        if volume.size >= int(params.get("new_size", 0)) and not volume.status.startswith("error"):
            return Outcome.SUCCEEDED, f"The volume is now {volume.size} GiB."
        guidance = EXTEND_GUIDANCE if volume.status == "error_extending" else ""
        return Outcome.FAILED, " ".join(p for p in (failure or f"The volume is {volume.status} at "
                                                    f"{volume.size} GiB.", guidance) if p)
    if action == Action.RETYPE:
        wanted = str(params.get("new_type", ""))
        if volume.volume_type == wanted:
            return Outcome.SUCCEEDED, f"The volume's type is now {wanted}."
        return Outcome.FAILED, failure or (f"Cinder kept the type {volume.volume_type}: the backend could not "
                                           f"change it to {wanted}.")
    if action == Action.REVERT:
        if volume.status == "available":
            return Outcome.SUCCEEDED, "The volume was reverted to the snapshot."
        return Outcome.FAILED, failure or f"The revert left the volume {volume.status}."
    if action == Action.UPLOAD:
        if image is not None and image.status == "active":
            return Outcome.SUCCEEDED, f"Image {image.name} is active."
        if volume.status.startswith("error"):
            return Outcome.FAILED, failure or f"The upload left the volume {volume.status}."
        if image is None:
            return Outcome.FAILED, failure or "The image service no longer has the image: the upload failed."
        return Outcome.FAILED, failure or f"The image is {image.status}."
    if action in (Action.ATTACH, Action.SERVER_ATTACH):
        target_server = entry.server_id or None
        target_host = params.get("host_name") or None
        mountpoint = params.get("mountpoint") or None
        # Only an attachment the volume did not have before counts: a multi-attach volume may already be
        # attached elsewhere at the same mountpoint (rows written before this was recorded look at them all).
        before = set(params.get("attachments_before") or ())
        for a in volume.attachments:
            if a.attachment_id in before:
                continue
            # Real Cinder reports host_name null for os-attach attachments (captures 14, 21): the mountpoint
            # it records is what identifies a host attachment, and a host attachment has no server.
            if (target_server and a.server_id == target_server) or (target_host and not a.server_id and (
                    a.host_name == target_host or (mountpoint and a.device == mountpoint))):
                return Outcome.SUCCEEDED, f"Attached at {a.device or 'an unnamed device'}."
        return Outcome.FAILED, failure or f"The volume is {volume.status} without that attachment."
    if action in (Action.DETACH, Action.SERVER_DETACH):
        still = [a for a in volume.attachments if a.attachment_id == entry.attachment_id]
        if action == Action.SERVER_DETACH:
            still = still or [a for a in volume.attachments if a.server_id == entry.server_id]
        if not still:
            return Outcome.SUCCEEDED, "Detached."
        return Outcome.FAILED, failure or "The attachment is still there."
    return Outcome.UNKNOWN, f"volpanel cannot judge {action}."


# Shown with error_extending: what a tenant can do next (the seed's troubleshooting text).
EXTEND_GUIDANCE = (
    "The volume is in error_extending: its data is intact but Cinder will refuse further actions on it. "
    "Ask your cloud administrator to check the volume backend and reset the volume's status to its previous "
    "state (available or in-use); then try the extend again."
)


def _user_message(entry: AuditEntry, messages: list[UserMessage] | None) -> str:
    """Cinder's user message for this attempt: the newest one created after the request was made."""
    if not messages:
        return ""
    since = entry.requested_at.strftime("%Y-%m-%dT%H:%M:%S")
    fresh = [m for m in messages if m.created_at[:19] >= since]
    return fresh[0].message if fresh else ""


def attempt(project_id: str, volume_id: str, attempt_uuid: str) -> AuditEntry | None:
    """One attempt on a volume of the project, by its public uuid; None if it is not there (or not theirs)."""
    try:
        return AuditEntry.objects.filter(uuid=attempt_uuid, project_id=project_id, volume_id=volume_id).first()
    except ValidationError:  # not a UUID
        return None


def history(project_id: str, volume_id: str, limit: int = 20) -> list[AuditEntry]:
    return list(AuditEntry.objects.for_volume(project_id, volume_id)[:limit])
