"""The action registry: one specification per action a user can run on a volume, and one per kind of audited
call those actions make. Views, the page's template, streams, the audit pages, exports and the seeding all read
these; adding an action is one `ActionSpec` here (with its `Audited` kind if it calls something new), its form,
and the client method it sends with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from volpanel.audit.models import AuditEntry
from volpanel.openstack.cinder import Snapshot, UserMessage, Volume
from volpanel.openstack.cloud import Cloud
from volpanel.openstack.glance import Image
from volpanel.volumes import forms, outcomes, rules, selectors, watchers
from volpanel.volumes.outcomes import Verdict
from volpanel.volumes.selectors import VolumePage
from volpanel.volumes.services import Actor, Audited, Request, Sent, from_result, perform

# --- audited calls ---------------------------------------------------------------------------------------------
# A PUT on the volume itself (no action body): named after what it changes.
EDIT = Audited("volume-update", "Edit name and description", outcomes.edited, "update/volume",
               "/volumes/{volume_id}", 5)
BOOTABLE = Audited("os-set_bootable", "Set bootable", outcomes.bootable_set, "update/os-set_bootable",
                   "/volumes/{volume_id}/action", 5)
READONLY = Audited("os-update_readonly_flag", "Set read-only", outcomes.readonly_set,
                   "update/os-update_readonly_flag", "/volumes/{volume_id}/action", 3)
SET_IMAGE_METADATA = Audited("os-set_image_metadata", "Set image property", outcomes.image_property_set,
                             "update/os-set_image_metadata", "/volumes/{volume_id}/action", 3)
UNSET_IMAGE_METADATA = Audited("os-unset_image_metadata", "Remove image property", outcomes.image_property_unset,
                               "update/os-unset_image_metadata", "/volumes/{volume_id}/action", 2)
REIMAGE = Audited("os-reimage", "Reimage", outcomes.reimaged, "update/os-reimage", "/volumes/{volume_id}/action", 3)
EXTEND = Audited("os-extend", "Extend", outcomes.extended, "update/os-extend", "/volumes/{volume_id}/action", 30,
                 nova_event="extend_volume")
ATTACH = Audited("os-attach", "Attach to host", outcomes.attached, "update/os-attach",
                 "/volumes/{volume_id}/action", 6)
DETACH = Audited("os-detach", "Detach from host", outcomes.detached, "update/os-detach",
                 "/volumes/{volume_id}/action", 4)
# Attaching through Nova creates or deletes a server's volume attachment.
SERVER_ATTACH = Audited("server-attach", "Attach to server", outcomes.attached, "create/os-volume_attachments",
                        "/servers/{server_id}/os-volume_attachments", 15)
SERVER_DETACH = Audited("server-detach", "Detach from server", outcomes.detached_from_server,
                        "delete/os-volume_attachments", "/servers/{server_id}/os-volume_attachments/{volume_id}",
                        12)
RETYPE = Audited("os-retype", "Change type", outcomes.retyped, "update/os-retype", "/volumes/{volume_id}/action",
                 10)
UPLOAD = Audited("os-volume_upload_image", "Upload to image", outcomes.uploaded, "update/os-volume_upload_image",
                 "/volumes/{volume_id}/action", 8)
# Snapshots are their own resource (POST /snapshots, DELETE /snapshots/{id}); the row is judged by the snapshot.
SNAPSHOT = Audited("snapshot-create", "Take snapshot", outcomes.snapshot_taken, "create/snapshot", "/snapshots", 8)
DELETE_SNAPSHOT = Audited("snapshot-delete", "Delete snapshot", outcomes.snapshot_deleted, "delete/snapshot",
                          "/snapshots/{snapshot_id}", 4)
REVERT = Audited("revert", "Revert to snapshot", outcomes.reverted, "update/revert", "/volumes/{volume_id}/action",
                 15)

AUDITED: dict[str, Audited] = {a.name: a for a in (
    EXTEND, ATTACH, DETACH, SERVER_ATTACH, SERVER_DETACH, RETYPE, UPLOAD, REVERT, EDIT, BOOTABLE, SNAPSHOT,
    DELETE_SNAPSHOT, READONLY, SET_IMAGE_METADATA, UNSET_IMAGE_METADATA, REIMAGE)}


def label(name: str) -> str:
    """The audited call's label, or its raw name for a kind this version does not know."""
    found = AUDITED.get(name)
    return found.label if found else name


def judge(entry: AuditEntry, volume: Volume | None, image: Image | None = None,
          messages: list[UserMessage] | None = None, snapshot: Snapshot | None = None) -> Verdict | None:
    """The final outcome of an accepted row from the settled result, or None while it is still moving."""
    found = AUDITED.get(entry.action)
    return outcomes.judge(entry, found.judge if found else outcomes.unjudgeable, volume, image, messages, snapshot)


# --- requests: what each action sends -------------------------------------------------------------------------
Data = dict[str, Any]


def _edit(cloud: Cloud, volume: Volume, data: Data) -> Request:
    name, description = data["name"], data["description"]
    return Request(EDIT, {"name": name, "description": description, "old_name": volume.name,
                          "old_description": volume.description},
                   lambda: from_result(cloud.cinder.update(volume.id, name=name, description=description)))


def _set_bootable(cloud: Cloud, volume: Volume, data: Data) -> Request:
    bootable = bool(data["bootable"])
    return Request(BOOTABLE, {"bootable": bootable, "was_bootable": volume.bootable},
                   lambda: from_result(cloud.cinder.set_bootable(volume.id, bootable)))


def _set_readonly(cloud: Cloud, volume: Volume, data: Data) -> Request:
    readonly = bool(data["readonly"])
    return Request(READONLY, {"readonly": readonly, "was_readonly": volume.readonly},
                   lambda: from_result(cloud.cinder.update_readonly_flag(volume.id, readonly)))


def _set_image_metadata(cloud: Cloud, volume: Volume, data: Data) -> Request:
    key, value = data["key"], data["value"]
    return Request(SET_IMAGE_METADATA, {"key": key, "value": value, "old_value": volume.image_properties.get(key)},
                   lambda: from_result(cloud.cinder.set_image_metadata(volume.id, {key: value})))


def _unset_image_metadata(cloud: Cloud, volume: Volume, data: Data) -> Request:
    key = data["key"]
    return Request(UNSET_IMAGE_METADATA, {"key": key, "old_value": volume.image_properties.get(key)},
                   lambda: from_result(cloud.cinder.unset_image_metadata(volume.id, key)))


def _reimage(cloud: Cloud, volume: Volume, data: Data) -> Request:
    image_id = data["image_id"]
    return Request(REIMAGE, {"image_id": image_id, "image_name": data.get("image_name", ""),
                             "old_image_id": volume.image_properties.get("image_id")},
                   lambda: from_result(cloud.cinder.reimage(volume.id, image_id)))


def _take_snapshot(cloud: Cloud, volume: Volume, data: Data) -> Request:
    name, description = data["name"], data["description"]
    force = bool(data.get("force"))  # offered, and required, only while the volume is attached
    return Request(SNAPSHOT, {"name": name, "description": description, "force": force},
                   lambda: from_result(cloud.cinder.create_snapshot(volume.id, name=name, description=description,
                                                                    force=force)))


def _delete_snapshot(cloud: Cloud, volume: Volume, data: Data) -> Request:
    snapshot_id = data["snapshot_id"]
    return Request(DELETE_SNAPSHOT, {"snapshot_id": snapshot_id, "was_latest": bool(data.get("was_latest"))},
                   lambda: from_result(cloud.cinder.delete_snapshot(snapshot_id)), snapshot_id=snapshot_id)


def _extend(cloud: Cloud, volume: Volume, data: Data) -> Request:
    in_use = volume.status == "in-use"
    new_size = data["new_size"]
    return Request(
        EXTEND, {"new_size": new_size, "old_size": volume.size},
        lambda: from_result(cloud.cinder.extend(volume.id, new_size, in_use=in_use)),
        server_id=next((a.server_id for a in volume.attachments if a.server_id), "") if in_use else "",
    )


def _attachment_ids(volume: Volume) -> list[str]:
    """The attachments a volume has before an attach: the outcome is judged by the one the attach adds."""
    return [a.attachment_id for a in volume.attachments]


def _attach_host(cloud: Cloud, volume: Volume, data: Data) -> Request:
    host_name, mountpoint, mode = data["host_name"], data["mountpoint"], data["mode"]
    return Request(
        ATTACH, {"host_name": host_name, "mountpoint": mountpoint, "mode": mode,
                 "attachments_before": _attachment_ids(volume)},
        lambda: from_result(cloud.cinder.attach(volume.id, mountpoint, host_name=host_name, mode=mode)),
    )


def _attach_instance(cloud: Cloud, volume: Volume, data: Data) -> Request:
    """Cinder-only bookkeeping attach by instance UUID (what Nova and bare-metal tooling call); no form offers it."""
    instance_uuid, mountpoint, mode = data["instance_uuid"], data["mountpoint"], data["mode"]
    return Request(
        ATTACH, {"instance_uuid": instance_uuid, "mountpoint": mountpoint, "mode": mode,
                 "attachments_before": _attachment_ids(volume)},
        lambda: from_result(cloud.cinder.attach(volume.id, mountpoint, instance_uuid=instance_uuid, mode=mode)),
        server_id=instance_uuid,
    )


def _attach_server(cloud: Cloud, volume: Volume, data: Data) -> Request:
    """Attach to a server through Nova, which owns server attachments in a real cloud."""
    server_id = data["server_id"]

    def send() -> Sent:
        attachment = cloud.nova.attach_volume(server_id, volume.id)
        return Sent(status=200, request_id=attachment.request_id, attachment_id=attachment.id)

    return Request(SERVER_ATTACH, {"server_id": server_id, "attachments_before": _attachment_ids(volume)},
                   send, server_id=server_id)


def _detach(cloud: Cloud, volume: Volume, data: Data) -> Request:
    """Detach one attachment: through Nova when a server holds it, os-detach for a host attachment."""
    attachment_id = data["attachment_id"]
    attachment = next(a for a in volume.attachments if a.attachment_id == attachment_id)
    if attachment.server_id and selectors.cloud_features(cloud).has_compute:
        server_id = attachment.server_id
        return Request(SERVER_DETACH, {"attachment_id": attachment_id, "server_id": server_id},
                       lambda: Sent(status=202, request_id=cloud.nova.detach_volume(server_id, volume.id)),
                       server_id=server_id, attachment_id=attachment_id)
    return Request(DETACH, {"attachment_id": attachment_id},
                   lambda: from_result(cloud.cinder.detach(volume.id, attachment_id)),
                   attachment_id=attachment_id, server_id=attachment.server_id or "")


def _retype(cloud: Cloud, volume: Volume, data: Data) -> Request:
    new_type, policy = data["new_type"], data["migration_policy"]
    return Request(RETYPE, {"new_type": new_type, "old_type": volume.volume_type, "migration_policy": policy},
                   lambda: from_result(cloud.cinder.retype(volume.id, new_type, policy)))


def _upload(cloud: Cloud, volume: Volume, data: Data) -> Request:
    params = {k: data[k] for k in ("image_name", "disk_format", "container_format", "visibility", "protected")}
    snapshot_id = data.get("snapshot_id") or ""
    if snapshot_id:
        params["snapshot_id"] = snapshot_id
    return Request(
        UPLOAD, params,
        lambda: from_result(cloud.cinder.upload_to_image(
            volume.id, image_name=params["image_name"], disk_format=params["disk_format"],
            container_format=params["container_format"], visibility=params["visibility"],
            protected=params["protected"], snapshot_id=snapshot_id or None)),
        snapshot_id=snapshot_id,
    )


def _revert(cloud: Cloud, volume: Volume, data: Data) -> Request:
    snapshot_id = data["snapshot_id"]
    return Request(REVERT, {"snapshot_id": snapshot_id},
                   lambda: from_result(cloud.cinder.revert(volume.id, snapshot_id)), snapshot_id=snapshot_id)


# --- the actions a user runs -------------------------------------------------------------------------------------
def _always(features: rules.CloudFeatures) -> bool:
    return True


def _nothing(page: VolumePage) -> Data:
    return {}


@dataclass(frozen=True)
class ActionSpec:
    """One action of the volume page: its button and what it does, its form, when it is available (and why
    not), the request it sends, the audited calls it may record, and who is offered it."""

    name: str  # in the action's URL and its form's ids
    label: str  # the button
    hint: str  # what it will do, said before the click
    form: type[forms.VolumeActionForm]
    audited: tuple[Audited, ...]  # the kinds of row a post of its form may write (a replayed key must match one)
    available: Callable[[VolumePage], rules.Availability]
    request: Callable[[Cloud, Volume, Data], Request]
    initial: Callable[[VolumePage], Data] = _nothing  # a fresh form's values beyond its fields' own
    offered: Callable[[rules.CloudFeatures], bool] = _always  # left out of the page (a note says why) if not
    audience: Literal["tenant", "admin"] = "tenant"
    danger: bool = False  # discards data: a red button, a confirmation in the form
    lead: str = ""  # a template said above the form's fields (what exactly will happen)
    # What its form and availability read of the page beyond the volume, the features and the types
    # (selectors.STATE_PARTS): an action POST reads these, with the volume, from the cloud before the check.
    needs: frozenset[str] = frozenset()
    audit_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "audit_names", tuple(a.name for a in self.audited))

    def bind(self, page: VolumePage, data: Any = None, *, initial: Data | None = None) -> forms.VolumeActionForm:
        """The action's form on this page: unbound (`initial`) or bound to what was posted (`data`)."""
        return self.form(data, page=page, action=self.name, availability=self.available(page), initial=initial,
                         auto_id=f"id_{self.name}_%s")


def _latest_snapshot(page: VolumePage) -> Data:
    return {"snapshot_id": page.latest_snapshot.id} if page.latest_snapshot else {}


SPECS: tuple[ActionSpec, ...] = (
    ActionSpec(
        "extend", "Extend",
        "Grow the volume to a larger size. Attached volumes grow online where the cloud allows.",
        forms.ExtendForm, (EXTEND,), lambda p: rules.extend(p.volume, p.features), _extend,
        initial=lambda p: {"new_size": p.volume.size + 1}, needs=frozenset({"limits"}),
    ),
    ActionSpec(
        "attach_server", "Attach to server", "Attach the volume to one of your servers through Compute (Nova).",
        forms.AttachServerForm, (SERVER_ATTACH,), lambda p: rules.attach_to_server(p.volume, p.features),
        _attach_server, offered=lambda f: f.has_compute, needs=frozenset({"servers"}),
    ),
    ActionSpec(
        "attach_host", "Attach to host",
        "Record an attachment to a host by name and mountpoint (os-attach), for bare-metal or externally managed "
        "hosts.", forms.AttachHostForm, (ATTACH,), lambda p: rules.attach(p.volume), _attach_host,
    ),
    ActionSpec(
        "detach", "Detach", "Detach the volume from a server (through Compute) or from a host (os-detach).",
        forms.DetachForm, (DETACH, SERVER_DETACH), lambda p: rules.detach(p.volume), _detach,
        needs=frozenset({"servers"}),  # the attachments' server names, in the form's choices
    ),
    ActionSpec(
        "retype", "Change type", "Move the volume to another volume type (os-retype).",
        forms.RetypeForm, (RETYPE,), lambda p: rules.retype(p.volume, [t.name for t in p.types]), _retype,
    ),
    ActionSpec(
        "upload", "Upload to image", "Copy the volume into a new image in the Image service.",
        forms.UploadForm, (UPLOAD,), lambda p: rules.upload(p.volume, p.features), _upload,
    ),
    ActionSpec(
        "upload_snapshot", "Upload snapshot to image", "Copy one of the volume's snapshots into a new image.",
        forms.UploadSnapshotForm, (UPLOAD,), lambda p: rules.upload_snapshot(p.volume, p.snapshots, p.features),
        _upload, needs=frozenset({"snapshots"}),
    ),
    ActionSpec(
        "edit", "Edit name and description",
        "Rename the volume or change its description (what `openstack volume set --name` does).",
        forms.EditForm, (EDIT,), lambda p: rules.edit(p.volume), _edit,
        initial=lambda p: {"name": p.volume.name or "", "description": p.volume.description or ""},
    ),
    ActionSpec(
        "bootable", "Set bootable",
        "Mark the volume as one servers may boot from, or clear the mark (os-set_bootable).",
        forms.BootableForm, (BOOTABLE,), lambda p: rules.set_bootable(p.volume), _set_bootable,
        initial=lambda p: {"bootable": not p.volume.bootable},
    ),
    ActionSpec(
        "readonly", "Set read-only",
        "Let servers and hosts attach the volume only to read it, or allow writes again (os-update_readonly_flag).",
        forms.ReadonlyForm, (READONLY,), lambda p: rules.set_readonly(p.volume), _set_readonly,
        initial=lambda p: {"readonly": not p.volume.readonly},
    ),
    ActionSpec(
        "image_metadata", "Set image property",
        "Set one of the Glance properties Cinder keeps for the volume (os_distro, hw_disk_bus, …): servers booted "
        "from it and images uploaded from it get them (os-set_image_metadata).",
        forms.ImageMetadataForm, (SET_IMAGE_METADATA,), lambda p: rules.set_image_metadata(p.volume),
        _set_image_metadata,
    ),
    ActionSpec(
        "unset_image_metadata", "Remove image property", "Remove one of the volume's image properties "
        "(os-unset_image_metadata).",
        forms.UnsetImageMetadataForm, (UNSET_IMAGE_METADATA,), lambda p: rules.unset_image_metadata(p.volume),
        _unset_image_metadata,
    ),
    ActionSpec(
        "snapshot", "Take snapshot",
        "Keep a point-in-time copy of the volume in the cloud; revert to it later or make volumes from it.",
        forms.SnapshotForm, (SNAPSHOT,), lambda p: rules.take_snapshot(p.volume), _take_snapshot,
    ),
    ActionSpec(
        "delete_snapshot", "Delete snapshot", "Delete one of the volume's snapshots for good.",
        forms.DeleteSnapshotForm, (DELETE_SNAPSHOT,), lambda p: rules.delete_snapshot(p.snapshots), _delete_snapshot,
        danger=True, needs=frozenset({"snapshots"}),
    ),
    ActionSpec(
        "reimage", "Reimage", "Overwrite the whole volume with an image from the Image service (os-reimage, "
        "Cinder API 3.68); the volume becomes bootable with the image's properties.",
        forms.ReimageForm, (REIMAGE,), lambda p: rules.reimage(p.volume, p.project_images, p.features), _reimage,
        danger=True, needs=frozenset({"project_images"}),
    ),
    ActionSpec(
        "revert", "Revert to snapshot", "Roll the volume back to its latest snapshot. Later changes are lost.",
        forms.RevertForm, (REVERT,), lambda p: rules.revert(p.volume, p.snapshots, p.features), _revert,
        initial=_latest_snapshot, danger=True, lead="volpanel/actions/revert_lead.html",
        needs=frozenset({"snapshots"}),
    ),
)

BY_NAME: dict[str, ActionSpec] = {spec.name: spec for spec in SPECS}
# Requests no form offers (API tooling's calls), by name, for `run`.
_REQUESTS_WITHOUT_FORM: dict[str, Callable[[Cloud, Volume, Data], Request]] = {"attach_instance": _attach_instance}


def availability(page: VolumePage) -> dict[str, rules.Availability]:
    """Every action's availability on this page, by name."""
    return {spec.name: spec.available(page) for spec in SPECS}


def run(action: str, /, *, cloud: Cloud, actor: Actor, volume: Volume, **data: Any) -> AuditEntry:
    """Attempt the named action with already-checked values (a form's cleaned data, whose field names may be
    anything but cloud, actor and volume), audited."""
    spec = BY_NAME.get(action)
    build = spec.request if spec is not None else _REQUESTS_WITHOUT_FORM[action]
    return perform(cloud=cloud, actor=actor, volume=volume, request=build(cloud, volume, data))


# --- admin actions (issue 16) ----------------------------------------------------------------------------------
# Offered on the admin volume page only (audience "admin"): the tenant's page and its action POST leave them out,
# and their view lets only a token with Keystone's admin role post them. Each row records the admin's reason,
# the volume's project and the failed attempt it repairs, if any.
RESET_STATUS = Audited("os-reset_status", "Reset status", outcomes.status_reset, "update/os-reset_status",
                       "/volumes/{volume_id}/action", 2)
AUDITED[RESET_STATUS.name] = RESET_STATUS


def _reset_status(cloud: Cloud, volume: Volume, data: Data) -> Request:
    status, attach, migration = (data.get(k) or "" for k in ("status", "attach_status", "migration_status"))
    return Request(
        RESET_STATUS, {"status": status, "attach_status": attach, "migration_status": migration,
                       "was_status": volume.status, "was_migration_status": volume.migration_status},
        lambda: from_result(cloud.cinder.reset_status(volume.id, status=status, attach_status=attach,
                                                      migration_status=migration)),
        reason=data["reason"], repairs=data.get("repairs"),
    )


FORCE_DETACH = Audited("os-force_detach", "Force detach", outcomes.detached, "update/os-force_detach",
                       "/volumes/{volume_id}/action", 1)
AUDITED[FORCE_DETACH.name] = FORCE_DETACH


def _force_detach(cloud: Cloud, volume: Volume, data: Data) -> Request:
    attachment_id = data["attachment_id"]
    attachment = next(a for a in volume.attachments if a.attachment_id == attachment_id)
    return Request(
        FORCE_DETACH, {"attachment_id": attachment_id, "host_name": attachment.host_name or "",
                       "device": attachment.device or "", "was_status": volume.status},
        lambda: from_result(cloud.cinder.force_detach(volume.id, attachment_id)),
        server_id=attachment.server_id or "", attachment_id=attachment_id,
        reason=data["reason"], repairs=data.get("repairs"),
    )


FORCE_DELETE = Audited("os-force_delete", "Force delete", outcomes.volume_deleted, "delete/os-force_delete",
                       "/volumes/{volume_id}/action", 1)
AUDITED[FORCE_DELETE.name] = FORCE_DELETE


def _force_delete(cloud: Cloud, volume: Volume, data: Data) -> Request:
    return Request(FORCE_DELETE, {"was_status": volume.status, "size": volume.size},
                   lambda: from_result(cloud.cinder.force_delete(volume.id)),
                   reason=data["reason"], repairs=data.get("repairs"))


MIGRATE = Audited("os-migrate_volume", "Migrate", outcomes.migrated, "update/os-migrate_volume",
                  "/volumes/{volume_id}/action", 1)
AUDITED[MIGRATE.name] = MIGRATE


def _migrate(cloud: Cloud, volume: Volume, data: Data) -> Request:
    host, copy, lock = data["host"], bool(data.get("force_host_copy")), bool(data.get("lock_volume"))
    return Request(MIGRATE, {"host": host, "force_host_copy": copy, "lock_volume": lock, "was_host": volume.host},
                   lambda: from_result(cloud.cinder.migrate(volume.id, host, force_host_copy=copy, lock_volume=lock)),
                   reason=data["reason"], repairs=data.get("repairs"))


ADMIN_SPECS: tuple[ActionSpec, ...] = (
    ActionSpec(
        "reset_status", "Reset status",
        "Set the status Cinder records for the volume (os-reset_status), after checking the back end: Cinder "
        "changes nothing else.",
        forms.ResetStatusForm, (RESET_STATUS,), lambda p: rules.reset_status(p.volume), _reset_status,
        audience="admin",
    ),
    ActionSpec(
        "force_detach", "Force detach",
        "End one attachment in Cinder and on the back end (os-force_detach), for a detach stuck in detaching or "
        "an attachment whose server or host is gone. A server still using the volume loses it.",
        forms.ForceDetachForm, (FORCE_DETACH,), lambda p: rules.force_detach(p.volume), _force_detach,
        audience="admin", danger=True,
    ),
    ActionSpec(
        "force_delete", "Force delete",
        "Delete the volume and its data whatever its status (os-force_delete), e.g. stuck in error_deleting or "
        "creating. Cinder still refuses an attached volume or one with snapshots.",
        forms.ForceDeleteForm, (FORCE_DELETE,), lambda p: rules.force_delete(p.volume, p.snapshots), _force_delete,
        audience="admin", danger=True,
    ),
    ActionSpec(
        "migrate", "Migrate",
        "Move the volume to another back-end pool (os-migrate_volume); its data is copied and its id stays.",
        forms.MigrateForm, (MIGRATE,), lambda p: rules.migrate(p.volume, p.snapshots, p.pools), _migrate,
        audience="admin",
    ),
)
SPECS += ADMIN_SPECS
ADMIN_BY_NAME: dict[str, ActionSpec] = {spec.name: spec for spec in ADMIN_SPECS}
BY_NAME.update(ADMIN_BY_NAME)

# A poller adopting another process's rows (PostgreSQL) judges them as that process would have (admin kinds too).
watchers.know_kinds({a.name: (a.judge, a.nova_event) for a in AUDITED.values()})
