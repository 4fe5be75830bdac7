"""POST /volumes/{id}/action: body parsing, schemas, checks and wording of cinder-api, then the status
transitions cinder-volume would drive (with the backend faults switched on through /_demo/faults)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

from . import cinder_views as views
from .cinder import (
    NOT_FOUND,
    Ctx,
    begin_delete,
    check_project,
    find_type,
    get_volume,
    parse_microversion,
    quota_check_gigabytes,
)
from .keystone import authenticate
from .schema import (
    ATTACH,
    BOOLEAN,
    DETACH,
    EXTEND,
    MIGRATION_STATUSES,
    REIMAGE,
    RESET_STATUS,
    RETYPE,
    SET_IMAGE_METADATA,
    UNSET_IMAGE_METADATA,
    VOLUME_STATUSES,
    action_schema,
    as_bool,
    is_uuid_like,
    upload_schema,
    validate,
)
from .state import BACKEND_HOST, BACKEND_POOLS, World, iso_db, new_request_id, now, stable_hex
from .web import HttpError, Request, Response, empty_response, json_response, os_fault, parse_json

# Real cinder-api appends the remote traceback to this one; clients must show the first line only.
ALREADY_ATTACHED = (
    "Invalid volume: volume is already attached and multiple attachments are not enabled\n"
    "Traceback (most recent call last):\n\n"
    "  File \"/opt/democloud/cinder/volume/manager.py\", line 1438, in attach_volume\n"
    "    raise exception.InvalidVolume(\n\n"
    "cinder.exception.InvalidVolume: Invalid volume: volume is already attached and multiple attachments are "
    "not enabled\n")
# cinder/message/message_field.py: (action id, action text) and (detail id, detail text).
EXTEND_VOLUME = ("007", "extend volume")
COPY_VOLUME_TO_IMAGE = ("003", "copy volume to image")
DRIVER_FAILED_EXTEND = ("010", "Volume Driver failed to extend volume.")
FAILED_TO_UPLOAD_VOLUME = ("004", "Failed to upload volume to image at backend.")
# Nova records volume-extended events under the identity Cinder calls it with.
CINDER_SERVICE_USER = stable_hex("user", "cinder")
SERVICE_PROJECT = stable_hex("project", "service")


def bad_request(message: str) -> HttpError:
    return HttpError(os_fault(400, message))


def add_user_message(world: World, vol: dict[str, Any], action: tuple[str, str], detail: tuple[str, str],
                     request_id: str) -> None:
    mid = str(uuid.uuid4())
    world.messages[mid] = {
        "id": mid, "event_id": f"VOLUME_VOLUME_{action[0]}_{detail[0]}",
        "user_message": f"{action[1]}: {detail[1]}", "message_level": "ERROR", "resource_type": "VOLUME",
        "resource_uuid": vol["id"], "request_id": request_id, "project_id": vol["project_id"],
        "created_at": now()}


def _begin(vol: dict[str, Any], status: str) -> str:
    previous = vol["status"]
    vol["previous_status"] = previous
    vol["status"] = status
    vol["updated_at"] = now()
    return previous


def _still(world: World, vol: dict[str, Any], status: str) -> bool:
    """A scheduled step applies only if nobody deleted, reset or moved the volume meanwhile."""
    return world.volumes.get(vol["id"]) is vol and vol["status"] == status


def _backend_fault(world: World, action: str) -> str | None:
    return world.faults["backend"].get(action)


# ---- the actions ------------------------------------------------------------------------------------------
def extend(ctx: Ctx, volume_id: str, body: dict[str, Any]) -> Response:
    validate(body, EXTEND)
    world = ctx.world
    vol = get_volume(ctx, volume_id)
    new_size = int(body["os-extend"]["new_size"])
    attached = ctx.mv >= (3, 42) and vol["status"] == "in-use"
    expected = "in-use" if attached else "available"
    if vol["status"] != expected:
        raise bad_request(f"Invalid volume: Volume {vol['id']} status must be '{{'status': '{expected}'}}' to "
                          f"extend, currently {vol['status']}.")
    if new_size <= vol["size"]:
        raise bad_request("Invalid input received: New size for extend must be greater than current size. "
                          f"(current: {vol['size']}, extended: {new_size}).")
    quota_check_gigabytes(ctx, vol["project_id"], new_size - vol["size"])
    previous = _begin(vol, "extending")
    request_id = ctx.req.request_id

    def finish() -> None:
        if not _still(world, vol, "extending"):
            return
        vol["updated_at"] = now()
        if _backend_fault(world, "extend"):
            vol["status"] = "error_extending"
            add_user_message(world, vol, EXTEND_VOLUME, DRIVER_FAILED_EXTEND, request_id)
            return
        vol["size"] = new_size
        vol["status"] = previous
        if previous == "in-use" and _backend_fault(world, "nova_event") != "lost":
            # Cinder sends Nova a volume-extended event once the volume is in-use again; Nova logs it as an
            # instance action a moment later (0.4-1.1 s after in-use on real Nova), also for an attachment Nova
            # does not know (made by os-attach with an instance_uuid).
            servers = [att["server_id"] for att in vol["attachments"] if att["server_id"]]

            def nova_records() -> None:
                for server_id in servers:
                    world.record_instance_action(server_id, "extend_volume", request_id=new_request_id(),
                                                 user_id=CINDER_SERVICE_USER, project_id=SERVICE_PROJECT)
            world.clock.after(world.config["delay"] / 2, nova_records)
    world.clock.after(world.config["delay"], finish)
    return empty_response(202)


def attach(ctx: Ctx, volume_id: str, body: dict[str, Any]) -> Response:
    validate(body, ATTACH)
    params = body["os-attach"]
    instance_uuid, host_name = params.get("instance_uuid"), params.get("host_name")
    if instance_uuid and host_name:
        raise bad_request(f"Invalid request to attach volume to an instance {instance_uuid} and a host "
                          f"{host_name} simultaneously")
    vol = get_volume(ctx, volume_id)
    if vol["status"] == "maintenance":
        raise bad_request("Invalid volume: The volume cannot be attached in maintenance mode.")
    # cinder.volume.api.API.attach records readonly "False" if absent, then refuses rw on a read-only volume.
    mode = params.get("mode", "rw")
    if vol["admin_metadata"].setdefault("readonly", "False") == "True" and mode != "ro":
        raise bad_request(f"Invalid attaching mode '{mode}' for volume {vol['id']}.")  # captured (124)
    if vol["status"] == "in-use" and not vol["multiattach"]:
        raise bad_request(ALREADY_ATTACHED)
    if vol["status"] != "available":
        raise bad_request(f"Invalid volume: Volume {vol['id']} status must be available or downloading")
    # cinder-volume finishes the attach before the API answers, so there is no visible `attaching`.
    # The API keeps no host_name for os-attach (captures 14/21 show null), so neither do we.
    ctx.world.attach(vol["id"], attachment_id=str(uuid.uuid4()), server_id=instance_uuid, host_name=None,
                     mountpoint=params["mountpoint"], by_nova=False, mode=params.get("mode", "rw"))
    vol["status"] = "in-use"
    return empty_response(202)


def _conflict_nova(instance_id: str) -> HttpError:
    return HttpError(os_fault(409, f"ConflictNovaUsingAttachment: Detach volume from instance {instance_id} "
                                   "using the Compute API"))


def detach(ctx: Ctx, volume_id: str, body: dict[str, Any]) -> Response:
    validate(body, DETACH)
    world = ctx.world
    attachment_id = (body["os-detach"] or {}).get("attachment_id")
    vol = get_volume(ctx, volume_id)
    # cinder.volume.api.attachment_deletion_allowed (the CVE-2023-2088 guard), then the manager's detach.
    if not attachment_id:
        if not vol["attachments"]:
            vol["status"] = "available" if vol["status"] == "in-use" else vol["status"]
            return empty_response(202)
        if len(vol["attachments"]) > 1:
            raise _conflict_nova("")
        att = vol["attachments"][0]
    else:
        owner, att = next(((v, a) for v in world.volumes.values() for a in v["attachments"]
                           if a["attachment_id"] == attachment_id), (None, None))
        if att is None or owner is None:
            raise _conflict_nova("")
        if owner is not vol:
            raise bad_request("Invalid input received: Mismatched volume and attachment")
    if att["by_nova"] and att["server_id"] in world.servers:
        raise _conflict_nova(att["server_id"])
    world.detach(vol["id"], att["attachment_id"])
    return empty_response(202)


def retype(ctx: Ctx, volume_id: str, body: dict[str, Any]) -> Response:
    validate(body, RETYPE)
    world = ctx.world
    vol = get_volume(ctx, volume_id)
    new_type = find_type(ctx, body["os-retype"]["new_type"])
    if (vol["status"] not in ("available", "in-use") or vol["migration_status"]
            or new_type["id"] == vol["volume_type_id"]):
        raise bad_request("Invalid volume: Retype needs volume to be in available or in-use state, not be part of "
                          "an active migration or a consistency group, requested type has to be different that "
                          "the one from the volume, and for in-use volumes front-end qos specs cannot change.")
    previous = _begin(vol, "retyping")

    def finish() -> None:
        if not _still(world, vol, "retyping"):
            return
        # A failed retype looks exactly like a finished one except for the type: no message, same status.
        if not _backend_fault(world, "retype"):
            vol["volume_type_id"] = new_type["id"]
        vol["status"] = previous
        vol["updated_at"] = now()
    world.clock.after(world.config["delay"], finish)
    return empty_response(202)


def upload_image(ctx: Ctx, volume_id: str, body: dict[str, Any]) -> Response:
    world = ctx.world
    validate(body, upload_schema(ctx.mv >= (3, 1), bool(world.config["snapshot_upload"])))
    params = body["os-volume_upload_image"]
    force = as_bool(params.get("force", False))
    vol = get_volume(ctx, volume_id)
    visibility = "shared"  # Glance's default when Cinder (below 3.1) sends none
    protected = False
    if ctx.mv >= (3, 1):
        visibility = params.get("visibility", "private")
        protected = as_bool(params.get("protected", False))
        if visibility == "public" and not ctx.admin:
            raise HttpError(os_fault(403, "Policy doesn't allow volume_extension:volume_actions:upload_public "
                                          "to be performed."))
    snapshot_id = params.get("snapshot_id")
    if snapshot_id is not None:
        snap = world.snapshots.get(snapshot_id)
        if snap is None or snap["volume_id"] != vol["id"]:
            raise bad_request(f"Invalid snapshot: Snapshot {snapshot_id} is not a snapshot of volume {vol['id']}.")
        if snap["status"] != "available":
            raise bad_request(f"Invalid snapshot: Snapshot {snapshot_id} status must be available.")
    # enable_force_upload is on in the demo cloud, so force lets an in-use volume through.
    allowed = ("available", "in-use") if force else ("available",)
    if vol["status"] not in allowed:
        raise bad_request(f"Invalid volume: Volume {vol['id']} status must be {' or '.join(allowed)}")
    vtype = world.volume_types[vol["volume_type_id"]]
    image_id = str(uuid.uuid4())
    disk_format = params.get("disk_format", "raw")
    container_format = params.get("container_format") or "bare"
    created = now()
    world.images[image_id] = {
        "id": image_id, "name": params["image_name"], "disk_format": disk_format,
        "container_format": container_format, "visibility": visibility, "size": None, "virtual_size": None,
        "status": "queued", "checksum": None, "protected": protected, "min_ram": 0, "min_disk": 0,
        "owner": vol["project_id"], "os_hidden": False, "os_hash_algo": None, "os_hash_value": None,
        "created_at": created, "updated_at": created, "tags": [], "properties": {}}
    response = {"id": vol["id"], "updated_at": iso_db(vol["updated_at"]), "status": "uploading",
                "display_description": vol["description"], "size": vol["size"],
                "volume_type": views.type_full(vtype), "image_id": image_id, "container_format": container_format,
                "disk_format": disk_format, "image_name": params["image_name"], "protected": protected,
                "visibility": visibility}
    previous = _begin(vol, "uploading")
    request_id = ctx.req.request_id
    size_gib = vol["size"]

    def saving() -> None:
        image = world.images.get(image_id)
        if image is not None and image["status"] == "queued":
            image["status"] = "saving"
            image["updated_at"] = now()

    def finish() -> None:
        image = world.images.get(image_id)
        if _still(world, vol, "uploading"):
            vol["status"] = previous
            vol["updated_at"] = now()
        if _backend_fault(world, "upload"):
            world.images.pop(image_id, None)
            add_user_message(world, vol, COPY_VOLUME_TO_IMAGE, FAILED_TO_UPLOAD_VOLUME, request_id)
            return
        if image is None:
            return
        virtual = size_gib * 1024 ** 3
        # raw images are the full device; the other formats are sparse, like an empty qcow2 of the capture.
        size = virtual if disk_format == "raw" else 197120
        digest = hashlib.sha512(image_id.encode()).hexdigest()
        image.update({"status": "active", "size": size, "virtual_size": virtual,
                      "checksum": hashlib.md5(image_id.encode()).hexdigest(), "os_hash_algo": "sha512",
                      "os_hash_value": digest, "updated_at": now()})
    delay = float(world.config["delay"])
    world.clock.after(delay / 2, saving)
    world.clock.after(delay, finish)
    return json_response(202, {"os-volume_upload_image": response})


def revert(ctx: Ctx, volume_id: str, body: dict[str, Any]) -> Response:
    world = ctx.world
    if not isinstance(body.get("revert"), dict):
        raise bad_request("Missing required element 'revert' in request body.")
    snapshot_id = body["revert"].get("snapshot_id")
    vol = get_volume(ctx, volume_id)
    snaps = sorted((s for s in world.snapshots.values() if s["volume_id"] == vol["id"]),
                   key=lambda s: s["created_at"], reverse=True)
    if not snaps:
        raise bad_request(f"Volume {vol['id']} doesn't have any snapshots.")
    latest = snaps[0]
    if snapshot_id != latest["id"]:
        raise bad_request(f"Specified snapshot {snapshot_id} is None or not the latest one of volume {vol['id']}.")
    if vol["size"] != latest["volume_size"]:
        raise bad_request(f"Can't revert volume {vol['id']} to its latest snapshot {latest['id']}. The volume "
                          "size must be equal to the snapshot size.")
    if vol["status"] != "available":
        raise HttpError(os_fault(409, f"Invalid volume: Can't revert volume {vol['id']} to its latest snapshot "
                                      f"{latest['id']}. Volume's status must be 'available'."))
    if latest["status"] != "available":
        raise HttpError(os_fault(409, f"Invalid snapshot: Can't revert volume {vol['id']} to its latest "
                                      f"snapshot {latest['id']}. Snapshot's status must be 'available'."))
    _begin(vol, "reverting")
    latest["status"] = "restoring"
    latest["updated_at"] = now()

    def finish() -> None:
        if world.snapshots.get(latest["id"]) is latest and latest["status"] == "restoring":
            latest["status"] = "available"
            latest["updated_at"] = now()
        if _still(world, vol, "reverting"):
            vol["status"] = "error" if _backend_fault(world, "revert") else "available"
            vol["updated_at"] = now()
    world.clock.after(world.config["delay"], finish)
    return empty_response(202)


def reset_status(ctx: Ctx, volume_id: str, body: dict[str, Any]) -> Response:
    """cinder.api.contrib.admin_actions.VolumeAdminController._reset_status: the schema and its format checkers,
    then the volume (404), the policy (403), then the two statuses it refuses; the update is written before the
    202 (no back end involved)."""
    validate(body, RESET_STATUS)
    update = body["os-reset_status"]
    status, attach, migration = (str(update.get(k) or "").lower() for k in
                                 ("status", "attach_status", "migration_status"))
    if not (status or attach or migration):
        raise bad_request("Must specify 'status', 'attach_status' or 'migration_status' for update.")
    if status and status not in VOLUME_STATUSES:
        raise bad_request(f"Volume status: {update['status']} is invalid, valid statuses are: {VOLUME_STATUSES}.")
    if attach and attach not in ("attached", "detached"):
        raise bad_request(f"Volume attach status: {update['attach_status']} is invalid, valid statuses are: "
                          "['attached', 'detached'].")
    if migration and migration not in MIGRATION_STATUSES:
        raise bad_request(f"Volume migration status: {update['migration_status']} is invalid, valid statuses "
                          f"are: {MIGRATION_STATUSES}.")
    vol = get_volume(ctx, volume_id)
    if not ctx.admin:
        raise HttpError(os_fault(403, "Policy doesn't allow volume_extension:volume_admin_actions:reset_status "
                                      "to be performed."))
    # Real Cinder's tuple ('deleting', 'error_deleting' 'detaching') joins the last two strings: only deleting
    # is refused.
    if status == "deleting":
        raise bad_request(f"Cannot reset-state to {status}")
    if status == "in-use" and not vol["attachments"]:
        raise bad_request("Cannot reset-state to in-use because volume does not have any attachments.")
    if status:
        vol["status"] = status
    if attach == "detached":
        vol["attachments"] = []
        vol["admin_metadata"].pop("attached_mode", None)
    if migration:
        vol["migration_status"] = None if migration == "none" else migration
    vol["updated_at"] = now()
    return empty_response(202)


SET_BOOTABLE = action_schema("os-set_bootable", {"bootable": BOOLEAN}, ["bootable"])


def set_bootable(ctx: Ctx, volume_id: str, body: dict[str, Any]) -> Response:
    validate(body, SET_BOOTABLE)
    vol = get_volume(ctx, volume_id)
    if vol["status"] == "maintenance":  # cinder.volume.api.API.update, as for a rename
        raise bad_request("Invalid volume: The volume cannot be updated during maintenance.")
    vol["bootable"] = as_bool(body["os-set_bootable"]["bootable"])
    vol["updated_at"] = now()
    return empty_response(200)


# --- admin actions (issue 16) -----------------------------------------------------------------------------
FORCE_DETACH = action_schema("os-force_detach", {"connector": {"type": ["string", "object", "null"]},
                                                 "attachment_id": {"type": ["string", "null"]}})


def force_detach(ctx: Ctx, volume_id: str, body: dict[str, Any]) -> Response:
    """cinder.api.contrib.admin_actions.VolumeAdminController._force_detach: schema, volume (404), policy (403),
    then the same detach as os-detach, whose guard answers an unknown attachment 409 too (captures 160-165)."""
    validate(body, FORCE_DETACH)
    get_volume(ctx, volume_id)
    if not ctx.admin:
        raise HttpError(os_fault(403, "Policy doesn't allow volume_extension:volume_admin_actions:force_detach "
                                      "to be performed."))
    attachment_id = body["os-force_detach"].get("attachment_id")
    if attachment_id is not None and not is_uuid_like(attachment_id):
        raise _conflict_nova("")
    return detach(ctx, volume_id, {"os-detach": {"attachment_id": attachment_id}})


# cinder.api.schemas.admin_actions.force_delete_volume: the action's value may be anything.
FORCE_DELETE = {"type": "object", "properties": {"os-force_delete": {}}, "required": ["os-force_delete"],
                "additionalProperties": False}


def force_delete(ctx: Ctx, volume_id: str, body: dict[str, Any]) -> Response:
    """VolumeAdminController._force_delete: any status, but still not attached, with snapshots or migrating
    (cinder.volume.api.API.delete's check, its status left out: captures 170-176)."""
    validate(body, FORCE_DELETE)
    world = ctx.world
    vol = get_volume(ctx, volume_id)
    if not ctx.admin:
        raise HttpError(os_fault(403, "Policy doesn't allow volume_extension:volume_admin_actions:force_delete "
                                      "to be performed."))
    has_snaps = any(s["volume_id"] == volume_id for s in world.snapshots.values())
    if vol["attachments"] or has_snaps or vol["migration_status"] == "migrating":
        raise bad_request("Invalid volume: Volume  must not be migrating, attached, belong to a group, have "
                          "snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer.")
    return begin_delete(world, vol)


MIGRATE = action_schema("os-migrate_volume", {"host": {"type": "string", "maxLength": 255},
                                               "force_host_copy": BOOLEAN, "lock_volume": BOOLEAN}, ["host"])


def migrate(ctx: Ctx, volume_id: str, body: dict[str, Any]) -> Response:
    """VolumeAdminController._migrate_volume and cinder.volume.api.API.migrate_volume (captures 180-187): the
    pool must be the scheduler's, the volume available or in use, not migrating, without snapshots and elsewhere;
    then migration_status starting → migrating → success and the host changes (lock_volume: an available volume
    is in maintenance meanwhile)."""
    validate(body, MIGRATE)
    world = ctx.world
    vol = get_volume(ctx, volume_id)
    if not ctx.admin:
        raise HttpError(os_fault(403, "Policy doesn't allow volume_extension:volume_admin_actions:migrate_volume "
                                      "to be performed."))
    params = body["os-migrate_volume"]
    host = params["host"]
    if host not in BACKEND_POOLS:
        raise bad_request(f"Invalid host: No available service named '{host}'")
    has_snaps = any(s["volume_id"] == volume_id for s in world.snapshots.values())
    if (vol["status"] not in ("available", "in-use") or vol["migration_status"] not in (None, "error", "success")
            or has_snaps or (vol.get("host") or BACKEND_HOST) == host):
        raise bad_request(f"Invalid volume: Volume {volume_id} status must be available or in-use, must not be "
                          "migrating, have snapshots, be replicated, be part of a group and destination "
                          "host/cluster must be different than the current one")
    previous = vol["status"]
    vol["migration_status"] = "starting"
    if as_bool(params.get("lock_volume", False)) and previous == "available":
        vol["status"] = "maintenance"
    vol["updated_at"] = now()

    def moving() -> None:
        if world.volumes.get(volume_id) is vol and vol["migration_status"] == "starting":
            vol["migration_status"] = "migrating"

    def done() -> None:
        if world.volumes.get(volume_id) is vol and vol["migration_status"] == "migrating":
            vol["migration_status"], vol["host"] = "success", host
            if vol["status"] == "maintenance":
                vol["status"] = previous
            vol["updated_at"] = now()
    world.clock.after(world.config["delay"] / 2, moving)
    world.clock.after(world.config["delay"], done)
    return empty_response(202)


# name → (minimum microversion, implementation)
UPDATE_READONLY = action_schema("os-update_readonly_flag", {"readonly": BOOLEAN}, ["readonly"])


def update_readonly_flag(ctx: Ctx, volume_id: str, body: dict[str, Any]) -> Response:
    """cinder.volume.api.API.update_readonly_flag: available only; the admin metadata is set before the 202."""
    validate(body, UPDATE_READONLY)
    vol = get_volume(ctx, volume_id)
    if vol["status"] != "available":
        raise bad_request(f"Invalid volume: Volume {vol['id']} status must be available to update readonly flag, "
                          f"but current status is: {vol['status']}.")
    vol["admin_metadata"]["readonly"] = str(as_bool(body["os-update_readonly_flag"]["readonly"]))
    vol["updated_at"] = now()
    return empty_response(202)


def _metadata_status_check(vol: dict[str, Any], verb: str) -> None:
    # cinder.volume.api.API._update_volume_metadata / delete_volume_metadata (captured: allowed while in-use).
    if vol["status"] in ("maintenance", "uploading"):
        raise bad_request(f"Invalid volume: {verb} volume metadata is not allowed for volumes in {vol['status']} "
                          "status.")


def set_image_metadata(ctx: Ctx, volume_id: str, body: dict[str, Any]) -> Response:
    """volume_image_metadata's create: keys merged in, 200 with all of the volume's image metadata (captured 125);
    Cinder protects no key (image_id, checksum and size are taken, captured 132) and keeps control characters."""
    validate(body, SET_IMAGE_METADATA)
    vol = get_volume(ctx, volume_id)
    _metadata_status_check(vol, "Updating")
    vol["image_metadata"].update(body["os-set_image_metadata"]["metadata"])
    return json_response(200, {"metadata": dict(vol["image_metadata"])})


def unset_image_metadata(ctx: Ctx, volume_id: str, body: dict[str, Any]) -> Response:
    """volume_image_metadata's delete: 404 for a key the volume does not have, then the status check; 200 with
    no body (webob's default text/html, captured 134-135)."""
    validate(body, UNSET_IMAGE_METADATA)
    vol = get_volume(ctx, volume_id)
    key = body["os-unset_image_metadata"]["key"]
    if key not in vol["image_metadata"]:
        raise HttpError(os_fault(404, f"Glance metadata for volume/snapshot {vol['id']} cannot be found."))
    _metadata_status_check(vol, "Deleting")
    del vol["image_metadata"][key]
    return empty_response(200, "text/html; charset=UTF-8")


# Image properties Cinder copies into a volume made from an image (cinder.volume.flows: glance core properties).
_IMAGE_CORE = ("checksum", "container_format", "disk_format", "min_disk", "min_ram", "size")


def reimage(ctx: Ctx, volume_id: str, body: dict[str, Any]) -> Response:
    """os-reimage (3.68): the image must exist for the project; available or error (reserved too with
    reimage_reserved); downloading, then available with the image's metadata and bootable (captured 140-147)."""
    validate(body, REIMAGE)
    vol = get_volume(ctx, volume_id)
    world = ctx.world
    params = body["os-reimage"]
    image = world.images.get(params["image_id"])
    if image is None or not (image["visibility"] in ("public", "community") or ctx.admin
                             or image["owner"] == ctx.project_id):
        raise HttpError(os_fault(404, f"Image {params['image_id']} could not be found."))
    allowed = ("available", "error", "reserved") if as_bool(params.get("reimage_reserved", False)) else (
        "available", "error")
    if vol["status"] not in allowed:
        statuses = " or ".join(allowed) if len(allowed) < 3 else "available, error or reserved"
        raise bad_request(f"Invalid volume: Volume {vol['id']} status must be {statuses}, but current status is "
                          f"{vol['status']}.")
    gib = (int(image["size"] or 0) + 2**30 - 1) // 2**30
    if image["status"] != "active":  # cinder.volume.volume_utils.check_image_metadata (the status is put back)
        raise bad_request(f"Invalid input received: Image {image['id']} is not active.")
    if gib > vol["size"]:
        raise bad_request(f"Invalid input received: Size of specified image {gib}GB is larger than volume size "
                          f"{vol['size']}GB.")
    if int(image["min_disk"] or 0) > vol["size"]:
        raise bad_request(f"Invalid input received: Volume size {vol['size']}GB cannot be smaller than the image "
                          f"minDisk size {image['min_disk']}GB.")
    vol["previous_status"], vol["status"] = vol["status"], "downloading"
    vol["updated_at"] = now()

    def finish() -> None:
        if _still(world, vol, "downloading"):
            vol["status"] = "error" if _backend_fault(world, "reimage") else "available"
            if vol["status"] == "available":
                vol["image_metadata"] = {"image_id": image["id"], "image_name": image["name"],
                                         **{k: str(image[k]) for k in _IMAGE_CORE}}
                vol["bootable"] = True
            vol["previous_status"] = None
            vol["updated_at"] = now()
    world.clock.after(world.config["delay"], finish)
    return empty_response(202)


ACTIONS: dict[str, tuple[tuple[int, int], Callable[[Ctx, str, dict[str, Any]], Response]]] = {
    "os-extend": ((3, 0), extend),
    "os-attach": ((3, 0), attach),
    "os-detach": ((3, 0), detach),
    "os-retype": ((3, 0), retype),
    "os-volume_upload_image": ((3, 0), upload_image),
    "revert": ((3, 40), revert),
    "os-reset_status": ((3, 0), reset_status),
    "os-set_bootable": ((3, 0), set_bootable),
    "os-update_readonly_flag": ((3, 0), update_readonly_flag),
    "os-set_image_metadata": ((3, 0), set_image_metadata),
    "os-unset_image_metadata": ((3, 0), unset_image_metadata),
    "os-reimage": ((3, 68), reimage),
    "os-force_detach": ((3, 0), force_detach),
    "os-force_delete": ((3, 0), force_delete),
    "os-migrate_volume": ((3, 0), migrate),
}


def volume_action(world: World, req: Request, project_id: str, volume_id: str) -> Response:
    """cinder-api's order: token, microversion, action name from the body, version gate, project in URL."""
    token = authenticate(world, req)
    mv = parse_microversion(req)
    ctx = Ctx(world, req, token, mv, project_id)
    if not req.body.strip():
        name = None
        body: Any = None
    else:
        try:
            body = parse_json(req.body)
        except (ValueError, UnicodeDecodeError):
            raise bad_request("Malformed request body") from None
        if not isinstance(body, dict) or len(body) != 1:
            raise bad_request("Malformed request body")
        name = next(iter(body))
    if name not in ACTIONS:
        raise bad_request(f"There is no such action: {name}. Verify the request body and Content-Type header "
                          "and try again.")
    min_mv, fn = ACTIONS[name]
    if mv < min_mv:
        raise HttpError(os_fault(404, NOT_FOUND))
    check_project(ctx)
    return fn(ctx, volume_id, body)
