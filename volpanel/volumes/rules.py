"""When each action may run, and in words a tenant understands why not."""

from __future__ import annotations

from dataclasses import dataclass

from volpanel.openstack.cinder import MV_EXTEND_IN_USE, MV_REIMAGE, MV_REVERT, Snapshot, VersionRange, Volume
from volpanel.openstack.glance import Image


@dataclass(frozen=True)
class Availability:
    enabled: bool
    reason: str = ""


OK = Availability(True)


def _no(reason: str) -> Availability:
    return Availability(False, reason)


@dataclass(frozen=True)
class CloudFeatures:
    versions: VersionRange
    has_compute: bool
    has_image: bool
    snapshot_upload: bool


def edit(volume: Volume) -> Availability:
    # Cinder renames a volume in any status but maintenance (cinder.volume.api.API.update).
    if volume.status == "maintenance":
        return _no("Edit is not possible while the volume is in maintenance.")
    return OK


def set_bootable(volume: Volume) -> Availability:
    # The same update as a rename underneath: any status but maintenance.
    if volume.status == "maintenance":
        return _no("The bootable flag cannot be changed while the volume is in maintenance.")
    return OK


def set_readonly(volume: Volume) -> Availability:
    # cinder.volume.api.API.update_readonly_flag: available only (captured: in-use is 400).
    if volume.status != "available":
        return _no(f"The read-only flag can be changed only while the volume is available; it is {volume.status}"
                   f"{' (detach it first)' if volume.status == 'in-use' else ''}.")
    return OK


def set_image_metadata(volume: Volume) -> Availability:
    # cinder.volume.api.API._update_volume_metadata: any status but maintenance and uploading (in-use is fine).
    if volume.status in ("maintenance", "uploading"):
        return _no(f"Image properties cannot be changed while the volume is {volume.status}.")
    return OK


def unset_image_metadata(volume: Volume) -> Availability:
    if not volume.image_metadata:
        return _no("The volume has no image properties to remove.")
    return set_image_metadata(volume)


def reimage(volume: Volume, images: list[Image], cloud: CloudFeatures) -> Availability:
    if not cloud.versions.supports(MV_REIMAGE):
        return _no("This cloud does not support reimaging a volume (it needs Cinder API 3.68).")
    if not cloud.has_image:
        return _no("This cloud has no Image service to reimage from.")
    # cinder.volume.api.API.reimage: available or error (reserved only with reimage_reserved, which is Nova's
    # rebuild of a server booted from the volume, not offered here), attached to at most one server.
    if volume.status not in ("available", "error"):
        return _no(f"Reimage needs the volume to be available or in error; it is {volume.status}"
                   f"{' (detach it first)' if volume.status == 'in-use' else ''}.")
    if not images:
        return _no("The Image service lists no active image your project may use.")
    return OK


def take_snapshot(volume: Volume) -> Availability:
    # cinder.volume.api.API.create_snapshot_in_db: available, or in-use with `force` (the form asks for it).
    if volume.status in ("available", "in-use"):
        return OK
    return _no(f"A snapshot needs the volume to be available or in use; it is {volume.status}.")


def extend(volume: Volume, cloud: CloudFeatures) -> Availability:
    if volume.status == "available":
        return OK
    if volume.status == "in-use":
        if cloud.versions.supports(MV_EXTEND_IN_USE):
            return OK
        return _no("This cloud does not support extending attached volumes (it needs Cinder API 3.42); "
                   "detach the volume first.")
    return _no(f"Extend needs the volume to be available or in use; it is {volume.status}.")


def attach(volume: Volume) -> Availability:
    if volume.status == "available" or (volume.status == "in-use" and volume.multiattach):
        return OK
    if volume.status == "in-use":
        return _no("Attach needs the volume to be available; it is already attached and is not multi-attach.")
    return _no(f"Attach needs the volume to be available; it is {volume.status}.")


def attach_to_server(volume: Volume, cloud: CloudFeatures) -> Availability:
    if not cloud.has_compute:
        return _no("This cloud has no Compute service, so volumes cannot be attached to servers here.")
    return attach(volume)


def detach(volume: Volume) -> Availability:
    if not volume.attachments:
        return _no("Detach needs an attachment; this volume is not attached.")
    if volume.status != "in-use":
        return _no(f"Detach needs the volume to be in use; it is {volume.status}.")
    return OK


def retype(volume: Volume, type_names: list[str]) -> Availability:
    if volume.status not in ("available", "in-use"):
        return _no(f"Change type needs the volume to be available or in use; it is {volume.status}.")
    if not [name for name in type_names if name != volume.volume_type]:
        return _no("There is no other volume type to change to.")
    return OK


def upload(volume: Volume, cloud: CloudFeatures) -> Availability:
    if not cloud.has_image:
        return _no("This cloud has no Image service to upload to.")
    if volume.status != "available":
        return _no(f"Upload to image needs the volume to be available; it is {volume.status}.")
    return OK


def upload_snapshot(volume: Volume, snapshots: list[Snapshot], cloud: CloudFeatures) -> Availability:
    if not cloud.snapshot_upload:
        return _no("This cloud does not support uploading a snapshot to an image.")
    if not cloud.has_image:
        return _no("This cloud has no Image service to upload to.")
    if volume.status != "available":
        return _no(f"Upload snapshot to image needs the volume to be available; it is {volume.status}.")
    if not [s for s in snapshots if s.status == "available"]:
        return _no("This volume has no available snapshot to upload.")
    return OK


# cinder.volume.api.API.delete_snapshot: only these (and no group snapshot's member) may be deleted.
DELETABLE_SNAPSHOT = ("available", "error")


def delete_snapshot(snapshots: list[Snapshot]) -> Availability:
    if not snapshots:
        return _no("This volume has no snapshots to delete.")
    if not [s for s in snapshots if s.status in DELETABLE_SNAPSHOT]:
        return _no("No snapshot can be deleted now: Cinder deletes a snapshot only when it is available or in "
                   f"error, and this volume's are {', '.join(sorted({s.status for s in snapshots}))}.")
    return OK


def latest_snapshot(snapshots: list[Snapshot]) -> Snapshot | None:
    return max(snapshots, key=lambda s: s.created_at) if snapshots else None


def revert(volume: Volume, snapshots: list[Snapshot], cloud: CloudFeatures) -> Availability:
    if not cloud.versions.supports(MV_REVERT):
        return _no("This cloud does not support reverting to a snapshot (it needs Cinder API 3.40).")
    latest = latest_snapshot(snapshots)
    if latest is None:
        return _no("Revert needs a snapshot; this volume has none.")
    if volume.status != "available":
        return _no(f"Revert needs the volume to be available; it is {volume.status}.")
    if latest.status != "available":
        return _no(f"Revert needs the latest snapshot to be available; it is {latest.status}.")
    if latest.size != volume.size:
        return _no(f"Revert needs the latest snapshot to be the volume's size ({latest.size} GiB vs "
                   f"{volume.size} GiB); the volume was extended after it was taken.")
    return OK


# --- admin actions (issue 16) ----------------------------------------------------------------------------------
# What an admin may reset a volume to (cinder.objects.fields.VolumeStatus, less what Cinder's reset refuses —
# deleting — and the transitional statuses: a volume reset to one looks busy to every follower until it is
# reset again). in-use needs an attachment (Cinder: "Cannot reset-state to in-use because volume does not have
# any attachments.").
RESET_STATUSES = ("available", "in-use", "error", "error_extending", "error_deleting", "error_restoring",
                  "error_backing-up", "error_managing")
RESET_ATTACH_STATUSES = ("attached", "detached")  # cinder.api.validation.validators: only these two
RESET_MIGRATION_STATUSES = ("none", "error", "success")  # VolumeMigrationStatus, less the moving ones
# The status a failed attempt's row suggests going back to, by the status it left the volume in.
REPAIRABLE = {"error_extending": "extend"}


def reset_status(volume: Volume) -> Availability:
    # Cinder resets a volume in any status (the admin's call); what it refuses is said by the form.
    return OK


def suggested_reset(status_before: str, status_now: str) -> str:
    """The status a repair should reset to: the one before the failed attempt, when the attempt left the
    volume in its error status (error_extending: back to available or in-use), else ""."""
    if status_now in REPAIRABLE and status_before in RESET_STATUSES and status_before != status_now:
        return status_before
    return ""


def force_detach(volume: Volume) -> Availability:
    # Cinder force-detaches in any status; only an attachment to name is needed.
    if not volume.attachments:
        return _no("Force detach needs an attachment; this volume has none.")
    return OK


def force_delete(volume: Volume, snapshots: list[Snapshot]) -> Availability:
    # cinder.volume.api.API.delete with force: any status, but not attached, with snapshots or migrating. (An
    # admin lists only their own project's snapshots; Cinder refuses another project's volume that has some.)
    if volume.attachments:
        return _no("Force delete refuses an attached volume: force-detach its attachments first.")
    if snapshots:
        return _no("Force delete refuses a volume with snapshots: delete them first.")
    if volume.migration_status == "migrating":
        return _no("Force delete refuses a volume that is migrating.")
    return OK


MIGRATING = ("starting", "migrating", "completing")


def migrate(volume: Volume, snapshots: list[Snapshot], pools: tuple[str, ...]) -> Availability:
    # cinder.volume.api.API.migrate_volume's conditional update (captures 183-184).
    if volume.status not in ("available", "in-use"):
        return _no(f"Migrate needs the volume to be available or in use; it is {volume.status}.")
    if volume.migration_status in MIGRATING:
        return _no(f"The volume is already migrating ({volume.migration_status}).")
    if snapshots:
        return _no("Cinder does not migrate a volume with snapshots.")
    if not [p for p in pools if p != volume.host]:
        return _no("The scheduler lists no other pool to migrate to.")
    return OK
