"""Cinder v3: the volume facts volpanel shows and the seed's volume actions."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from keystoneauth1 import session as ks_session

from volpanel.openstack.errors import CloudError, fault_from_response, request_id_of, understood
from volpanel.openstack.session import CatalogAdapter, CloudConfig, call

SERVICE = "volume"
# The newest microversion this client understands; it asks for min(this, the cloud's maximum).
CLIENT_MAX_MICROVERSION = (3, 71)
# Microversions that gate seed features (ACTIONS.md).
MV_UPLOAD_VISIBILITY = (3, 1)
MV_MESSAGES = (3, 3)
# Below 3.5 Cinder ignores every query parameter of GET /messages (api/v3/messages.py): no resource filter.
MV_MESSAGES_FILTERS = (3, 5)
# From 3.31 a member's list filters are checked against the cloud's resource_filters.json; a Cinder installed
# without it (pip without `resource_query_filters_file`, as tests/realcloud was before 2026-12-04) rejects
# `volume_id` / `resource_uuid` with 400 "Invalid filters … are found in query options." Below 3.31 the same
# filters pass on every Cinder.
MV_REVERT = (3, 40)
MV_EXTEND_IN_USE = (3, 42)
MV_REIMAGE = (3, 68)

TRANSITIONAL = frozenset(
    {
        "creating", "attaching", "detaching", "extending", "retyping", "uploading", "reverting",
        "downloading", "reserved", "deleting", "maintenance", "backing-up", "restoring-backup", "awaiting-transfer",
    }
)


def mv(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


@dataclass(frozen=True)
class Attachment:
    attachment_id: str
    server_id: str | None
    host_name: str | None
    device: str | None
    attached_at: str | None


@dataclass(frozen=True)
class Volume:
    id: str
    name: str
    status: str
    size: int
    volume_type: str
    bootable: bool
    multiattach: bool
    project_id: str
    availability_zone: str
    created_at: str
    updated_at: str | None
    description: str
    attachments: tuple[Attachment, ...] = ()
    readonly: bool = False  # metadata "readonly" (Cinder's admin metadata, shown to the owner)
    attached_mode: str = ""  # metadata "attached_mode" while attached: "rw" or "ro"
    # volume_image_metadata (Glance properties Cinder keeps for the volume), sorted by key
    image_metadata: tuple[tuple[str, str], ...] = ()
    # Shown to admins only (Cinder leaves them out of a member's view): the back end and any migration.
    host: str = ""  # os-vol-host-attr:host, e.g. "node@backend#pool"
    migration_status: str = ""  # os-vol-mig-status-attr:migstat; "" when none

    @property
    def image_properties(self) -> dict[str, str]:
        return dict(self.image_metadata)

    @property
    def is_transitional(self) -> bool:
        return self.status in TRANSITIONAL

    @property
    def display_name(self) -> str:
        return self.name or self.id


@dataclass(frozen=True)
class Snapshot:
    id: str
    name: str
    status: str
    size: int
    volume_id: str
    created_at: str


@dataclass(frozen=True)
class VolumeType:
    id: str
    name: str
    description: str


@dataclass(frozen=True)
class Limits:
    max_gigabytes: int
    used_gigabytes: int
    max_volumes: int
    used_volumes: int

    @property
    def gigabytes_left(self) -> int | None:
        # -1 means unlimited in Cinder's limits.
        if self.max_gigabytes < 0:
            return None
        return max(self.max_gigabytes - self.used_gigabytes, 0)


@dataclass(frozen=True)
class UserMessage:
    id: str
    message: str
    event_id: str
    created_at: str
    request_id: str


@dataclass(frozen=True)
class ActionResult:
    status: int
    request_id: str
    microversion: str
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionRange:
    min: tuple[int, int]
    max: tuple[int, int]

    def supports(self, version: tuple[int, int]) -> bool:
        return self.min <= version <= self.max


def _attachment(raw: dict[str, Any]) -> Attachment:
    return Attachment(
        attachment_id=str(raw.get("attachment_id") or raw.get("id") or ""),
        server_id=raw.get("server_id") or None,
        host_name=raw.get("host_name") or None,
        device=raw.get("device") or None,
        attached_at=raw.get("attached_at") or None,
    )


def _volume(raw: dict[str, Any]) -> Volume:
    try:
        return Volume(
            id=str(raw["id"]),
            name=str(raw.get("name") or ""),
            status=str(raw["status"]),
            size=int(raw["size"]),
            volume_type=str(raw.get("volume_type") or ""),
            bootable=str(raw.get("bootable", "false")).lower() == "true",
            multiattach=bool(raw.get("multiattach", False)),
            project_id=str(raw.get("os-vol-tenant-attr:tenant_id") or ""),
            availability_zone=str(raw.get("availability_zone") or ""),
            created_at=str(raw.get("created_at") or ""),
            updated_at=raw.get("updated_at"),
            description=str(raw.get("description") or ""),
            attachments=tuple(_attachment(a) for a in raw.get("attachments") or []),
            readonly=str((raw.get("metadata") or {}).get("readonly", "False")).lower() == "true",
            attached_mode=str((raw.get("metadata") or {}).get("attached_mode") or ""),
            image_metadata=tuple(sorted((str(k), str(v))
                                        for k, v in (raw.get("volume_image_metadata") or {}).items())),
            host=str(raw.get("os-vol-host-attr:host") or ""),
            migration_status=str(raw.get("os-vol-mig-status-attr:migstat") or ""),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CloudError("malformed", f"Cinder sent a volume volpanel does not understand ({exc}).",
                         service=SERVICE) from exc


def _snapshot(raw: dict[str, Any]) -> Snapshot:
    try:
        return Snapshot(
            id=str(raw["id"]),
            name=str(raw.get("name") or ""),
            status=str(raw["status"]),
            size=int(raw["size"]),
            volume_id=str(raw["volume_id"]),
            created_at=str(raw.get("created_at") or ""),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CloudError("malformed", f"Cinder sent a snapshot volpanel does not understand ({exc}).",
                         service=SERVICE) from exc


def _parse_version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


# Version documents per endpoint, kept briefly: the range a cloud supports changes only on upgrade.
_VERSION_TTL = 300.0
_versions: dict[str, tuple[float, VersionRange]] = {}


class CinderClient:
    def __init__(self, sess: ks_session.Session, config: CloudConfig) -> None:
        self._config = config
        self._adapter = CatalogAdapter(
            sess,
            service_type="block-storage",
            interface=config.interface,
            region_name=config.region_name,
            raise_exc=False,
        )

    # --- plumbing -------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, microversion: str | None = None, json: Any = None) -> Any:
        kwargs: dict[str, Any] = {"raise_exc": False}
        if method != "GET":
            # keystoneauth answers a 401 by re-authenticating and sending again: an action goes out once.
            kwargs["allow_reauth"] = False
        if microversion:
            kwargs["microversion"] = microversion
            kwargs["microversion_service_type"] = "volume"
        if json is not None:
            kwargs["json"] = json
        return call(SERVICE, lambda: self._adapter.request(path, method, **kwargs))

    def _get(self, path: str, key: str, microversion: str | None = None) -> Any:
        response = self._request("GET", path, microversion=microversion)
        if response.status_code != 200:
            raise fault_from_response(SERVICE, response)
        try:
            body = response.json()
        except ValueError as exc:
            kind = response.headers.get("Content-Type") or "no content type"
            raise CloudError("malformed", f"Cinder's answer to GET {path.split('?')[0]} is not JSON ({kind}).",
                             service=SERVICE) from exc
        if not isinstance(body, dict) or key not in body:
            raise CloudError("malformed", f"Cinder's answer to GET {path.split('?')[0]} has no '{key}'.",
                             service=SERVICE)
        return body[key]

    def versions(self) -> VersionRange:
        """The microversion range of this Cinder, from its version document (cached per endpoint)."""
        endpoint = call(SERVICE, self._adapter.endpoint)
        cached = _versions.get(endpoint)
        if cached and time.monotonic() - cached[0] < _VERSION_TTL:
            return cached[1]
        data = call(SERVICE, lambda: self._adapter.get_endpoint_data())
        if data is None or not data.max_microversion:
            found = VersionRange(min=(3, 0), max=(3, 0))
        else:
            found = VersionRange(
                min=tuple(data.min_microversion or (3, 0))[:2],  # type: ignore[arg-type]
                max=tuple(data.max_microversion)[:2],  # type: ignore[arg-type]
            )
        _versions[endpoint] = (time.monotonic(), found)
        return found

    def read_microversion(self) -> str:
        """The microversion for reads: the newest both sides know, so volume details carry every field."""
        return mv(min(self.versions().max, CLIENT_MAX_MICROVERSION))

    # --- reads ----------------------------------------------------------------------------------------
    def list_volumes(self) -> list[Volume]:
        raw = self._get("/volumes/detail", "volumes", self.read_microversion())
        with understood(SERVICE, "Cinder", "a volume list"):
            return sorted((_volume(v) for v in raw), key=lambda v: (v.name.lower(), v.id))

    def get_volume(self, volume_id: str) -> Volume:
        return _volume(self._get(f"/volumes/{volume_id}", "volume", self.read_microversion()))

    def list_snapshots(self, volume_id: str, *, all_projects: bool = False) -> list[Snapshot]:
        # At 3.0: the fields volpanel reads are all there, and the volume_id filter is accepted whatever the
        # cloud's resource_filters.json says (the 3.31 note at the top). `all_projects`: an admin looking at
        # another project's volume (without all_tenants Cinder lists the admin's own project's snapshots only).
        scope = "&all_tenants=1" if all_projects else ""
        raw = self._get(f"/snapshots/detail?volume_id={volume_id}{scope}", "snapshots", "3.0")
        # Newest first: revert may only go to the latest one (Cinder compares created_at).
        with understood(SERVICE, "Cinder", "a snapshot list"):
            return sorted((_snapshot(s) for s in raw if s.get("volume_id") == volume_id),
                          key=lambda s: s.created_at, reverse=True)

    def find_snapshot(self, snapshot_id: str) -> Snapshot | None:
        """The snapshot, or None once Cinder no longer has it (404)."""
        try:
            return _snapshot(self._get(f"/snapshots/{snapshot_id}", "snapshot", "3.0"))
        except CloudError as exc:
            if exc.status == 404:
                return None
            raise

    def list_types(self) -> list[VolumeType]:
        raw = self._get("/types", "volume_types")
        with understood(SERVICE, "Cinder", "a volume type list"):
            return sorted(
                (VolumeType(id=str(t["id"]), name=str(t["name"]), description=str(t.get("description") or ""))
                 for t in raw if t.get("name") != "__DEFAULT__"),
                key=lambda t: t.name,
            )

    def get_limits(self) -> Limits:
        limits = self._get("/limits", "limits")
        try:
            absolute = limits.get("absolute", {})
            return Limits(
                max_gigabytes=int(absolute.get("maxTotalVolumeGigabytes", -1)),
                used_gigabytes=int(absolute.get("totalGigabytesUsed", 0)),
                max_volumes=int(absolute.get("maxTotalVolumes", -1)),
                used_volumes=int(absolute.get("totalVolumesUsed", 0)),
            )
        except (TypeError, ValueError, AttributeError) as exc:
            raise CloudError("malformed", "Cinder's limits were not understood.", service=SERVICE) from exc

    def user_messages(self, resource_uuid: str) -> list[UserMessage]:
        if not self.versions().supports(MV_MESSAGES):
            return []
        version = MV_MESSAGES_FILTERS if self.versions().supports(MV_MESSAGES_FILTERS) else MV_MESSAGES
        raw = self._get(f"/messages?resource_uuid={resource_uuid}", "messages", mv(version))
        with understood(SERVICE, "Cinder", "a message list"):
            return self._messages(raw, resource_uuid)

    @staticmethod
    def _messages(raw: Any, resource_uuid: str) -> list[UserMessage]:
        messages = [
            UserMessage(
                id=str(m.get("id", "")),
                message=str(m.get("user_message", "")),
                event_id=str(m.get("event_id", "")),
                created_at=str(m.get("created_at", "")),
                request_id=str(m.get("request_id", "")),
            )
            # Below 3.5 the filter is ignored: keep only this resource's messages.
            for m in raw if m.get("resource_uuid") == resource_uuid
        ]
        return sorted(messages, key=lambda m: m.created_at, reverse=True)

    # --- actions --------------------------------------------------------------------------------------
    def action(self, volume_id: str, body: dict[str, Any], microversion: tuple[int, int] = (3, 0)) -> ActionResult:
        """POST one action; a 202 returns its request id, anything else raises CloudError with the fault."""
        version = mv(microversion)
        response = self._request("POST", f"/volumes/{volume_id}/action", microversion=version, json=body)
        if response.status_code not in (200, 202):
            raise fault_from_response(SERVICE, response)
        parsed: dict[str, Any] = {}
        if response.content:
            try:
                parsed = response.json() or {}
            except ValueError:
                parsed = {}
            # The action was accepted whatever its body says; a body that is no object carries nothing we read.
            if not isinstance(parsed, dict):
                parsed = {}
        return ActionResult(
            status=response.status_code, request_id=request_id_of(response), microversion=version, body=parsed
        )

    def update(self, volume_id: str, *, name: str, description: str) -> ActionResult:
        """PUT /volumes/{id}: a new name and description (Cinder strips both). 200 with the volume; anything else
        raises CloudError with the fault."""
        version = mv((3, 0))
        response = self._request("PUT", f"/volumes/{volume_id}", microversion=version,
                                 json={"volume": {"name": name, "description": description}})
        if response.status_code != 200:
            raise fault_from_response(SERVICE, response)
        return ActionResult(status=200, request_id=request_id_of(response), microversion=version)

    def create_snapshot(self, volume_id: str, *, name: str, description: str, force: bool) -> ActionResult:
        """POST /snapshots at 3.0: 202 with the new snapshot (`creating`) in the body. `force` lets Cinder snapshot
        an in-use volume; it is sent only when set (from 3.66 Cinder refuses `force: false`)."""
        version = mv((3, 0))
        snapshot: dict[str, Any] = {"volume_id": volume_id, "name": name, "description": description}
        if force:
            snapshot["force"] = True
        response = self._request("POST", "/snapshots", microversion=version, json={"snapshot": snapshot})
        if response.status_code != 202:
            raise fault_from_response(SERVICE, response)
        try:
            body = response.json()
        except ValueError:
            body = {}
        return ActionResult(status=202, request_id=request_id_of(response), microversion=version,
                            body=body if isinstance(body, dict) else {})

    def delete_snapshot(self, snapshot_id: str) -> ActionResult:
        """DELETE /snapshots/{id}: 202 with no body, the snapshot `deleting` until Cinder no longer has it."""
        version = mv((3, 0))
        response = self._request("DELETE", f"/snapshots/{snapshot_id}", microversion=version)
        if response.status_code != 202:
            raise fault_from_response(SERVICE, response)
        return ActionResult(status=202, request_id=request_id_of(response), microversion=version)

    def set_bootable(self, volume_id: str, bootable: bool) -> ActionResult:
        """os-set_bootable: Cinder answers 200 with no body and the flag is set when it answers."""
        return self.action(volume_id, {"os-set_bootable": {"bootable": bootable}})

    def update_readonly_flag(self, volume_id: str, readonly: bool) -> ActionResult:
        """os-update_readonly_flag: 202 with no body, the flag set when Cinder answers (captured)."""
        return self.action(volume_id, {"os-update_readonly_flag": {"readonly": readonly}})

    def set_image_metadata(self, volume_id: str, metadata: dict[str, str]) -> ActionResult:
        """os-set_image_metadata: 200 with all of the volume's image metadata, set when Cinder answers."""
        return self.action(volume_id, {"os-set_image_metadata": {"metadata": metadata}})

    def unset_image_metadata(self, volume_id: str, key: str) -> ActionResult:
        """os-unset_image_metadata: 200 with no body; 404 (itemNotFound) for a key the volume does not have."""
        return self.action(volume_id, {"os-unset_image_metadata": {"key": key}})

    def reimage(self, volume_id: str, image_id: str, *, reimage_reserved: bool = False) -> ActionResult:
        """os-reimage (3.68): 202 with no body; the volume goes downloading, then back to where it was with the
        image on it (volume_image_metadata is the image's, bootable true)."""
        params: dict[str, Any] = {"image_id": image_id}
        if reimage_reserved:
            params["reimage_reserved"] = True
        return self.action(volume_id, {"os-reimage": params}, MV_REIMAGE)

    def extend(self, volume_id: str, new_size: int, *, in_use: bool) -> ActionResult:
        version = MV_EXTEND_IN_USE if in_use else (3, 0)
        return self.action(volume_id, {"os-extend": {"new_size": new_size}}, version)

    def attach(self, volume_id: str, mountpoint: str, *, instance_uuid: str | None = None,
               host_name: str | None = None, mode: str = "rw") -> ActionResult:
        body: dict[str, Any] = {"mountpoint": mountpoint, "mode": mode}
        if instance_uuid:
            body["instance_uuid"] = instance_uuid
        else:
            body["host_name"] = host_name
        return self.action(volume_id, {"os-attach": body})

    def detach(self, volume_id: str, attachment_id: str) -> ActionResult:
        return self.action(volume_id, {"os-detach": {"attachment_id": attachment_id}})

    def retype(self, volume_id: str, new_type: str, migration_policy: str) -> ActionResult:
        return self.action(volume_id, {"os-retype": {"new_type": new_type, "migration_policy": migration_policy}})

    def upload_to_image(self, volume_id: str, *, image_name: str, disk_format: str, container_format: str,
                        visibility: str, protected: bool, force: bool = False,
                        snapshot_id: str | None = None) -> ActionResult:
        body: dict[str, Any] = {
            "image_name": image_name,
            "disk_format": disk_format,
            "container_format": container_format,
            "force": force,
        }
        version = (3, 0)
        if self.versions().supports(MV_UPLOAD_VISIBILITY):
            body.update(visibility=visibility, protected=protected)
            version = MV_UPLOAD_VISIBILITY
        if snapshot_id:
            body["snapshot_id"] = snapshot_id
        return self.action(volume_id, {"os-volume_upload_image": body}, version)

    def revert(self, volume_id: str, snapshot_id: str) -> ActionResult:
        return self.action(volume_id, {"revert": {"snapshot_id": snapshot_id}}, MV_REVERT)

    # --- admin actions (Cinder's policy: the admin role; a member gets 403) ---------------------------------
    def reset_status(self, volume_id: str, *, status: str = "", attach_status: str = "",
                     migration_status: str = "") -> ActionResult:
        """os-reset_status: Cinder writes the given statuses as they are (no back-end call); only those given."""
        given = {"status": status, "attach_status": attach_status, "migration_status": migration_status}
        return self.action(volume_id, {"os-reset_status": {k: v for k, v in given.items() if v}})

    def force_detach(self, volume_id: str, attachment_id: str) -> ActionResult:
        """os-force_detach of one attachment: the back end's connection is ended, then the attachment (no
        connector: Cinder ends every connection of the volume, as `cinder force-detach` does without one)."""
        return self.action(volume_id, {"os-force_detach": {"attachment_id": attachment_id, "connector": None}})

    def force_delete(self, volume_id: str) -> ActionResult:
        """os-force_delete: a delete in any status (error_deleting, a stuck creating); Cinder still refuses an
        attached volume, one with snapshots or one migrating."""
        return self.action(volume_id, {"os-force_delete": {}})

    def scheduler_pools(self) -> list[str]:
        """The scheduler's pools by name ("host@backend#pool"), the hosts a volume may migrate to."""
        raw = self._get("/scheduler-stats/get_pools", "pools")
        with understood(SERVICE, "Cinder", "a pool list"):
            return sorted(str(p["name"]) for p in raw)

    def migrate(self, volume_id: str, host: str, *, force_host_copy: bool, lock_volume: bool) -> ActionResult:
        """os-migrate_volume to another pool; the migration runs after the 202 (migration_status)."""
        return self.action(volume_id, {"os-migrate_volume": {"host": host, "force_host_copy": force_host_copy,
                                                             "lock_volume": lock_volume}})

    def list_all_volumes(self, *, project_id: str = "", status: str = "", name: str = "", marker: str = "",
                         limit: int = 50, updated_before: datetime | None = None) -> tuple[list[Volume], str]:
        """One page of every project's volumes (all_tenants: an admin's view; a member's token gets its own
        project's), newest first as Cinder sorts them, and the marker of the next page ("" on the last). Cinder
        links a next page whenever a page is full (captures 150-157)."""
        query = [("all_tenants", "1"), ("limit", str(limit))]
        query += [(k, v) for k, v in (("project_id", project_id), ("status", status), ("name", name),
                                      ("marker", marker)) if v]
        if updated_before is not None:
            # Cinder's time comparison filter (lt:, in UTC as its database keeps it): "unchanged since".
            query.append(("updated_at", f"lt:{updated_before.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%S}"))
        response = self._request("GET", f"/volumes/detail?{urlencode(query)}", microversion=self.read_microversion())
        if response.status_code != 200:
            raise fault_from_response(SERVICE, response)
        with understood(SERVICE, "Cinder", "a volume list"):
            body = response.json()
            volumes = [_volume(v) for v in body["volumes"]]
            more = any(link.get("rel") == "next" for link in body.get("volumes_links") or [])
        return volumes, (volumes[-1].id if more and volumes else "")
