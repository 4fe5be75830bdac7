"""Outcome judging: the final outcome of an accepted action, read from the settled result (the volume, the image,
Cinder's user messages), not from the status alone. One judge per kind of audited call; the registry
(volumes.actions) says which judge each kind uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from volpanel.audit.models import AuditEntry, Outcome
from volpanel.openstack.cinder import Snapshot, UserMessage, Volume
from volpanel.openstack.glance import Image

Verdict = tuple[str, str]  # (final outcome, the sentence that says why)


@dataclass(frozen=True)
class Settled:
    """What an accepted action left behind, as the watcher or the reconciler found it."""

    volume: Volume  # settled: not in a transitional status
    image: Image | None  # the image an upload made, None if Glance has none (or no upload)
    failure: str  # Cinder's user message for this attempt ("" when none)
    # The row's snapshot (AuditEntry.snapshot_id) as just fetched; None when it is gone or the row names none.
    snapshot: Snapshot | None = None


# A kind's judge: None while the action is still under way (an upload Glance is still saving).
Judge = Callable[[AuditEntry, Settled], "Verdict | None"]


def judge(entry: AuditEntry, kind_judge: Judge, volume: Volume | None, image: Image | None = None,
          messages: list[UserMessage] | None = None, snapshot: Snapshot | None = None) -> Verdict | None:
    """The final outcome of an accepted action, or None while it is still moving. `volume` None means the
    volume is gone; `snapshot` is the row's snapshot if it names one (None: gone)."""
    if volume is None:
        if kind_judge is volume_deleted:
            return Outcome.SUCCEEDED, "The volume was deleted."
        return Outcome.UNKNOWN, "The volume no longer exists."
    if volume.is_transitional:
        return None
    return kind_judge(entry, Settled(volume=volume, image=image, failure=user_message(entry, messages),
                                     snapshot=snapshot))


def user_message(entry: AuditEntry, messages: list[UserMessage] | None) -> str:
    """Cinder's user message for this attempt: the newest one created after the request was made."""
    if not messages:
        return ""
    since = entry.requested_at.strftime("%Y-%m-%dT%H:%M:%S")
    fresh = [m for m in messages if m.created_at[:19] >= since]
    return fresh[0].message if fresh else ""


# A snapshot's statuses on its way somewhere (cinder.objects.fields.SnapshotStatus).
SNAPSHOT_MOVING = frozenset({"creating", "deleting", "restoring", "unmanaging", "backing-up"})

# Shown with error_extending: what a tenant can do next (the seed's troubleshooting text).
EXTEND_GUIDANCE = (
    "The volume is in error_extending: its data is intact but Cinder will refuse further actions on it. "
    "Ask your cloud administrator to check the volume backend and reset the volume's status to its previous "
    "state (available or in-use); then try the extend again."
)


def edited(entry: AuditEntry, r: Settled) -> Verdict:
    params = entry.parameters or {}
    name, description = params.get("name") or "", params.get("description") or ""
    if (r.volume.name or "", r.volume.description or "") == (name, description):
        return Outcome.SUCCEEDED, (f"The volume is now named {name}." if name else "The volume now has no name.")
    return Outcome.FAILED, r.failure or "Cinder kept another name or description (changed again meanwhile?)."


def bootable_set(entry: AuditEntry, r: Settled) -> Verdict:
    wanted = bool((entry.parameters or {}).get("bootable"))
    if r.volume.bootable == wanted:
        return Outcome.SUCCEEDED, "The volume is now bootable." if wanted else "The volume is no longer bootable."
    return Outcome.FAILED, r.failure or "Cinder kept the bootable flag as it was (changed again meanwhile?)."


def readonly_set(entry: AuditEntry, r: Settled) -> Verdict:
    wanted = bool((entry.parameters or {}).get("readonly"))
    if r.volume.readonly == wanted:
        return Outcome.SUCCEEDED, "The volume is now read-only." if wanted else "The volume is now read/write."
    return Outcome.FAILED, r.failure or "Cinder kept the read-only flag as it was (changed again meanwhile?)."


def image_property_set(entry: AuditEntry, r: Settled) -> Verdict:
    key, value = (entry.parameters or {}).get("key", ""), (entry.parameters or {}).get("value", "")
    if r.volume.image_properties.get(key) == value:
        return Outcome.SUCCEEDED, f"Image property {key} is set."
    return Outcome.FAILED, r.failure or f"Cinder kept another value for image property {key} (changed meanwhile?)."


def image_property_unset(entry: AuditEntry, r: Settled) -> Verdict:
    key = (entry.parameters or {}).get("key", "")
    if key not in r.volume.image_properties:
        return Outcome.SUCCEEDED, f"Image property {key} is removed."
    return Outcome.FAILED, r.failure or f"Cinder still has image property {key} (set again meanwhile?)."


def reimaged(entry: AuditEntry, r: Settled) -> Verdict:
    image_id = (entry.parameters or {}).get("image_id", "")
    name = (entry.parameters or {}).get("image_name") or image_id
    if r.volume.status.startswith("error"):
        return Outcome.FAILED, r.failure or f"Cinder could not write image {name} to the volume ({r.volume.status})."
    if r.volume.image_properties.get("image_id") == image_id:
        return Outcome.SUCCEEDED, f"The volume now holds image {name}."
    return Outcome.FAILED, r.failure or f"The volume does not hold image {name} (it is {r.volume.status})."


def snapshot_taken(entry: AuditEntry, r: Settled) -> Verdict | None:
    # Judged by the snapshot, not the volume: taking one leaves the volume's status as it was.
    snapshot = r.snapshot
    if snapshot is None:
        return Outcome.FAILED, "The snapshot is gone: Cinder removed it before it became available."
    if snapshot.status in SNAPSHOT_MOVING:
        return None
    if snapshot.status == "available":
        return Outcome.SUCCEEDED, f"Snapshot {snapshot.name or snapshot.id} is available."
    return Outcome.FAILED, r.failure or f"Cinder left the snapshot {snapshot.status}."


def snapshot_deleted(entry: AuditEntry, r: Settled) -> Verdict | None:
    snapshot = r.snapshot
    if snapshot is None:
        return Outcome.SUCCEEDED, "The snapshot was deleted."
    if snapshot.status in SNAPSHOT_MOVING:
        return None
    if snapshot.status == "available":
        # cinder.volume.manager.delete_snapshot: a driver's SnapshotIsBusy puts the snapshot back.
        return Outcome.FAILED, r.failure or ("Cinder kept the snapshot: its backend refused to delete it, as it "
                                             "does while volumes made from the snapshot depend on it.")
    return Outcome.FAILED, r.failure or (f"Cinder left the snapshot {snapshot.status}; ask your cloud "
                                         "administrator to look at the volume backend.")


def extended(entry: AuditEntry, r: Settled) -> Verdict:
    volume = r.volume
    if volume.size >= int((entry.parameters or {}).get("new_size", 0)) and not volume.status.startswith("error"):
        return Outcome.SUCCEEDED, f"The volume is now {volume.size} GiB."
    guidance = EXTEND_GUIDANCE if volume.status == "error_extending" else ""
    return Outcome.FAILED, " ".join(p for p in (r.failure or f"The volume is {volume.status} at "
                                                f"{volume.size} GiB.", guidance) if p)


def retyped(entry: AuditEntry, r: Settled) -> Verdict:
    wanted = str((entry.parameters or {}).get("new_type", ""))
    if r.volume.volume_type == wanted:
        return Outcome.SUCCEEDED, f"The volume's type is now {wanted}."
    return Outcome.FAILED, r.failure or (f"Cinder kept the type {r.volume.volume_type}: the backend could not "
                                         f"change it to {wanted}.")


def reverted(entry: AuditEntry, r: Settled) -> Verdict:
    if r.volume.status == "available":
        return Outcome.SUCCEEDED, "The volume was reverted to the snapshot."
    return Outcome.FAILED, r.failure or f"The revert left the volume {r.volume.status}."


def uploaded(entry: AuditEntry, r: Settled) -> Verdict | None:
    image, volume = r.image, r.volume
    if entry.image_id and image is not None and image.status not in ("active", "killed", "deleted", "deactivated"):
        if volume.status in ("available", "in-use"):
            return None  # Cinder is done; Glance is still saving.
    if image is not None and image.status == "active":
        return Outcome.SUCCEEDED, f"Image {image.name} is active."
    if volume.status.startswith("error"):
        return Outcome.FAILED, r.failure or f"The upload left the volume {volume.status}."
    if image is None:
        return Outcome.FAILED, r.failure or "The image service no longer has the image: the upload failed."
    return Outcome.FAILED, r.failure or f"The image is {image.status}."


def attached(entry: AuditEntry, r: Settled) -> Verdict:
    params = entry.parameters or {}
    target_server = entry.server_id or None
    target_host = params.get("host_name") or None
    mountpoint = params.get("mountpoint") or None
    # Only an attachment the volume did not have before counts: a multi-attach volume may already be attached
    # elsewhere at the same mountpoint (rows written before this was recorded look at them all).
    before = set(params.get("attachments_before") or ())
    for a in r.volume.attachments:
        if a.attachment_id in before:
            continue
        # Real Cinder reports host_name null for os-attach attachments (captures 14, 21): the mountpoint it
        # records is what identifies a host attachment, and a host attachment has no server.
        if (target_server and a.server_id == target_server) or (target_host and not a.server_id and (
                a.host_name == target_host or (mountpoint and a.device == mountpoint))):
            return Outcome.SUCCEEDED, f"Attached at {a.device or 'an unnamed device'}."
    return Outcome.FAILED, r.failure or f"The volume is {r.volume.status} without that attachment."


def detached(entry: AuditEntry, r: Settled) -> Verdict:
    if not [a for a in r.volume.attachments if a.attachment_id == entry.attachment_id]:
        return Outcome.SUCCEEDED, "Detached."
    return Outcome.FAILED, r.failure or "The attachment is still there."


def detached_from_server(entry: AuditEntry, r: Settled) -> Verdict:
    # Nova may have replaced the attachment id it detached; the server's attachment counts as well.
    if not [a for a in r.volume.attachments
            if a.attachment_id == entry.attachment_id or a.server_id == entry.server_id]:
        return Outcome.SUCCEEDED, "Detached."
    return Outcome.FAILED, r.failure or "The attachment is still there."


def unjudgeable(entry: AuditEntry, r: Settled) -> Verdict:
    return Outcome.UNKNOWN, f"volpanel cannot judge {entry.action}."


# --- admin actions (issue 16) ----------------------------------------------------------------------------------
def status_reset(entry: AuditEntry, r: Settled) -> Verdict:
    # Cinder writes the statuses before its 202 (no back end involved): the volume shows them, unless someone
    # or something changed it again meanwhile.
    params = entry.parameters or {}
    wanted = {"status": params.get("status") or "", "migration status": params.get("migration_status") or ""}
    seen = {"status": r.volume.status, "migration status": r.volume.migration_status or "none"}
    differs = [f"its {what} is {seen[what]}, not {value}" for what, value in wanted.items()
               if value and seen[what] != value]
    if params.get("attach_status") == "detached" and r.volume.attachments:
        differs.append("it still has attachments")
    if differs:
        return Outcome.FAILED, r.failure or f"Cinder shows the volume otherwise: {'; '.join(differs)}."
    return Outcome.SUCCEEDED, f"The volume's status is now {r.volume.status}."


def volume_deleted(entry: AuditEntry, r: Settled) -> Verdict:
    # Called only while the volume is still there and settled: the delete did not happen (a gone volume is a
    # success, decided by `judge`).
    return Outcome.FAILED, r.failure or f"Cinder left the volume {r.volume.status}; its back end did not delete it."


def migrated(entry: AuditEntry, r: Settled) -> Verdict | None:
    # A migration runs after the 202 while the volume's status may stay available: migration_status says.
    wanted = str((entry.parameters or {}).get("host", ""))
    if r.volume.migration_status in ("starting", "migrating", "completing"):
        return None
    if r.volume.host == wanted and r.volume.migration_status in ("success", ""):
        return Outcome.SUCCEEDED, f"The volume is now on {wanted}."
    return Outcome.FAILED, r.failure or (f"Cinder left the volume on {r.volume.host or 'its host'} with migration "
                                         f"status {r.volume.migration_status or 'none'}.")
