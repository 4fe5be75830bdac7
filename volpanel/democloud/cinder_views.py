"""How Cinder v3 renders volumes, snapshots, types, attachments and user messages, field order and
microversion gates included (checked against the captures of a real cinder-api)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .state import BACKEND_HOST, SERVICE_UUID, World, iso_db, iso_micro

Version = tuple[int, int]


def links(base: str, project_id: str, collection: str, rid: str) -> list[dict[str, str]]:
    return [{"rel": "self", "href": f"{base}/volume/v3/{project_id}/{collection}/{rid}"},
            {"rel": "bookmark", "href": f"{base}/volume/{project_id}/{collection}/{rid}"}]


def attachment_summary(vol: dict[str, Any]) -> list[dict[str, Any]]:
    """Only attachments in state `attached` show in a volume (a reserved one is still invisible)."""
    return [{"id": vol["id"], "attachment_id": a["attachment_id"], "volume_id": vol["id"],
             "server_id": a["server_id"], "host_name": a["host_name"], "device": a["mountpoint"],
             "attached_at": iso_db(a["attached_at"])}
            for a in vol["attachments"] if a["attach_status"] == "attached"]


def volume_view(world: World, vol: dict[str, Any], *, base: str, url_project: str, mv: Version, admin: bool,
                created: bool = False) -> dict[str, Any]:
    vtype = world.volume_types.get(vol["volume_type_id"])
    view: dict[str, Any] = {
        "id": vol["id"], "status": vol["status"], "size": vol["size"],
        "availability_zone": vol["availability_zone"],
        # A create response is the object before its first database read: real microseconds, no update yet.
        "created_at": iso_micro(vol["created_at"]) if created else iso_db(vol["created_at"]),
        "updated_at": None if created else iso_db(vol["updated_at"]),
        "name": vol["name"], "description": vol["description"],
        "volume_type": vtype["name"] if vtype else None,
        "snapshot_id": vol["snapshot_id"], "source_volid": vol["source_volid"],
        "metadata": {**vol["metadata"], **vol["admin_metadata"]},
        "links": links(base, url_project, "volumes", vol["id"]),
        "user_id": vol["user_id"], "bootable": "true" if vol["bootable"] else "false",
        "encrypted": vol["encrypted"], "replication_status": None, "consistencygroup_id": None,
        "multiattach": vol["multiattach"], "attachments": attachment_summary(vol),
    }
    if admin:
        view["migration_status"] = vol["migration_status"]
    if mv >= (3, 13):
        view["group_id"] = None
    if admin and mv >= (3, 21):
        view["provider_id"] = None
    if mv >= (3, 48):
        view["shared_targets"] = False
        view["service_uuid"] = SERVICE_UUID
    if admin and mv >= (3, 61):
        view["cluster_name"] = None
    if mv >= (3, 63):
        view["volume_type_id"] = vol["volume_type_id"]
    if mv >= (3, 65):
        view["consumes_quota"] = True
    if not created:
        view["os-vol-tenant-attr:tenant_id"] = vol["project_id"]
        if admin:
            view["os-vol-mig-status-attr:migstat"] = vol["migration_status"]
            view["os-vol-mig-status-attr:name_id"] = None
            view["os-vol-host-attr:host"] = vol.get("host") or BACKEND_HOST  # a migration moves it
        if vol["image_metadata"]:  # the image-metadata extension adds it to a show or a listing, when there is any
            view["volume_image_metadata"] = dict(vol["image_metadata"])
    return view


def volume_summary(vol: dict[str, Any], *, base: str, url_project: str) -> dict[str, Any]:
    return {"id": vol["id"], "links": links(base, url_project, "volumes", vol["id"]), "name": vol["name"]}


def snapshot_view(snap: dict[str, Any], *, mv: Version, detail: bool, created: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": snap["id"],
        "created_at": iso_micro(snap["created_at"]) if created else iso_db(snap["created_at"]),
        "updated_at": None if created else iso_db(snap["updated_at"]),
        "name": snap["name"], "description": snap["description"], "volume_id": snap["volume_id"],
        "status": snap["status"], "size": snap["size"], "metadata": dict(snap["metadata"]),
    }
    if mv >= (3, 14):
        view["group_snapshot_id"] = None
    if mv >= (3, 41):
        view["user_id"] = snap["user_id"]
    if mv >= (3, 65):
        view["consumes_quota"] = True
    if detail:
        view["os-extended-snapshot-attributes:project_id"] = snap["project_id"]
        view["os-extended-snapshot-attributes:progress"] = "100%" if snap["status"] == "available" else "0%"
    return view


def type_view(vtype: dict[str, Any], *, admin: bool, listing: bool) -> dict[str, Any]:
    """Non-admins see extra_specs as {}; the access flag shows in listings only (as captured)."""
    view: dict[str, Any] = {"id": vtype["id"], "name": vtype["name"], "is_public": vtype["is_public"],
                            "description": vtype["description"],
                            "extra_specs": dict(vtype["extra_specs"]) if admin else {}}
    if admin:
        view["qos_specs_id"] = None
    if listing:
        view["os-volume-type-access:is_public"] = vtype["is_public"]
    return view


def type_full(vtype: dict[str, Any]) -> dict[str, Any]:
    """The volume_type object embedded in an upload response (a serialized DB row)."""
    return {"id": vtype["id"], "name": vtype["name"], "description": vtype["description"],
            "is_public": vtype["is_public"], "extra_specs": dict(vtype["extra_specs"]), "qos_specs_id": None,
            "created_at": iso_db(vtype["created_at"]), "updated_at": None, "deleted_at": None, "deleted": False}


def attachment_record(vol: dict[str, Any], att: dict[str, Any], detail: bool) -> dict[str, Any]:
    view: dict[str, Any] = {"id": att["attachment_id"], "status": att["attach_status"],
                            "instance": att["server_id"], "volume_id": vol["id"]}
    if detail:
        view.update({"attached_at": iso_db(att["attached_at"]), "detached_at": "", "attach_mode": att["mode"],
                     "connection_info": None})
    return view


def message_view(msg: dict[str, Any], *, base: str, url_project: str) -> dict[str, Any]:
    return {"id": msg["id"], "event_id": msg["event_id"], "user_message": msg["user_message"],
            "message_level": "ERROR", "created_at": iso_db(msg["created_at"]),
            "guaranteed_until": iso_db(msg["created_at"] + timedelta(days=30)),
            "request_id": msg["request_id"], "links": links(base, url_project, "messages", msg["id"]),
            "resource_type": "VOLUME", "resource_uuid": msg["resource_uuid"]}
