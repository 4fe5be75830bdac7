"""Cinder v3 API: version discovery, the keystonemiddleware + microversion + project-URL checks every call
passes, and the collections (volumes, snapshots, types, limits, quotas, messages, attachments)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from . import cinder_views as views
from .keystone import authenticate
from .schema import SNAPSHOT_CREATE, VOLUME_CREATE, VOLUME_UPDATE, VOLUME_UPDATE_353, as_bool, is_uuid_like, validate
from .state import MAX_VOLUME_MV, MIN_VOLUME_MV, World, now
from .web import HttpError, Request, Response, empty_response, json_response, os_fault, parse_json

Version = tuple[int, int]
_MV_RE = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")
NOT_FOUND = "The resource could not be found."


@dataclass
class Ctx:
    """What cinder-api knows about a caller once the pipeline ran."""
    world: World
    req: Request
    token: dict[str, Any]
    mv: Version
    url_project: str

    @property
    def admin(self) -> bool:
        return "admin" in self.token["roles"]

    @property
    def project_id(self) -> str:
        return self.token["project_id"]

    @property
    def user_id(self) -> str:
        return self.token["user_id"]


def mv_str(mv: Version) -> str:
    return f"{mv[0]}.{mv[1]}"


def parse_microversion(req: Request) -> Version:
    """OpenStack-API-Version: volume X.Y|latest; absent means 3.0. Sets the echo for the response headers."""
    header = req.header("OpenStack-API-Version")
    requested = None
    if header:
        for item in header.split(","):
            service, _, value = item.strip().partition(" ")
            if service.lower() == "volume":
                requested = value.strip()
    if requested is None:
        mv = MIN_VOLUME_MV
    elif requested.lower() == "latest":
        mv = MAX_VOLUME_MV
    else:
        m = _MV_RE.match(requested)
        if not m:
            raise HttpError(os_fault(400, f"API Version String {requested} is of invalid format. "
                                          "Must be of format MajorNum.MinorNum."))
        mv = (int(m.group(1)), int(m.group(2)))
        if not MIN_VOLUME_MV <= mv <= MAX_VOLUME_MV:
            req.ctx["mv_echo"] = f"volume {requested}"
            raise HttpError(os_fault(406, f"Version {requested} is not supported by the API. Minimum is "
                                          f"{mv_str(MIN_VOLUME_MV)} and maximum is {mv_str(MAX_VOLUME_MV)}."))
    req.ctx["mv_echo"] = f"volume {mv_str(mv)}"
    return mv


def check_project(ctx: Ctx) -> None:
    if ctx.url_project != ctx.project_id:
        raise HttpError(os_fault(400, "Malformed request url"))


def api(min_mv: Version | None = None, project_check: bool = True) -> Callable[..., Callable[..., Response]]:
    """Wrap a handler in cinder-api's pipeline: token, microversion, method version gate, project in URL."""
    def wrap(fn: Callable[..., Response]) -> Callable[..., Response]:
        def handler(world: World, req: Request, project_id: str, **params: str) -> Response:
            token = authenticate(world, req)
            mv = parse_microversion(req)
            if min_mv is not None and mv < min_mv:
                raise HttpError(os_fault(404, NOT_FOUND))
            ctx = Ctx(world, req, token, mv, project_id)
            if project_check:
                check_project(ctx)
            return fn(ctx, **params)
        return handler
    return wrap


def get_volume(ctx: Ctx, volume_id: str) -> dict[str, Any]:
    vol = ctx.world.volumes.get(volume_id)
    if vol is None or (not ctx.admin and vol["project_id"] != ctx.project_id):
        raise HttpError(os_fault(404, f"Volume {volume_id} could not be found."))
    return vol


def get_snapshot(ctx: Ctx, snapshot_id: str) -> dict[str, Any]:
    snap = ctx.world.snapshots.get(snapshot_id)
    if snap is None or (not ctx.admin and snap["project_id"] != ctx.project_id):
        raise HttpError(os_fault(404, f"Snapshot {snapshot_id} could not be found."))
    return snap


def find_type(ctx: Ctx, name_or_id: str) -> dict[str, Any]:
    """volume_types.get_by_name_or_id: a UUID is looked up as an id, anything else as a name."""
    world = ctx.world
    if is_uuid_like(name_or_id):
        found = world.volume_types.get(name_or_id)
        if found is None:
            raise HttpError(os_fault(404, f"Volume type {name_or_id} could not be found."))
        return found
    found = world.type_by_name(name_or_id)
    if found is None:
        raise HttpError(os_fault(404, f"Volume type with name {name_or_id} could not be found."))
    return found


def body_json(req: Request) -> Any:
    try:
        return parse_json(req.body)
    except (ValueError, UnicodeDecodeError):
        raise HttpError(os_fault(400, "Malformed request body")) from None


def quota_check_gigabytes(ctx: Ctx, project_id: str, increase: int) -> None:
    world = ctx.world
    limit = world.quotas[project_id]["gigabytes"]
    used = world.gigabytes_used(project_id)
    if limit >= 0 and used + increase > limit:
        raise HttpError(os_fault(413, "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds "
                                      f"allowed gigabytes quota. Requested {increase}G, quota is {limit}G and "
                                      f"{used}G has been consumed.", retryAfter="0").header("Retry-After", "0"))


def visible(ctx: Ctx, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    all_tenants = ctx.admin and as_bool(ctx.req.q("all_tenants") or "0")
    return [i for i in items if all_tenants or i["project_id"] == ctx.project_id]


def _second(value: Any) -> Any:
    return value.replace(microsecond=0) if isinstance(value, datetime) else value


def paged(ctx: Ctx, items: list[dict[str, Any]], missing: str = "", by_second: bool = False) -> list[dict[str, Any]]:
    """Newest first (Cinder's default sort: created_at, then id, descending), from after `marker`. An unknown
    marker is Cinder's 404 for the resource when `missing` names it (volumes: capture 154), else a 400."""
    # Cinder's database keeps created_at to the second: volumes made within one second come in id order
    # (capture 152; `by_second`, for the volume list whose pages the contract suite compares).
    items = sorted(items, key=lambda i: (_second(i["created_at"]) if by_second else i["created_at"], i["id"]),
                   reverse=True)
    marker = ctx.req.q("marker")
    if marker:
        ids = [i["id"] for i in items]
        if marker not in ids:
            if missing:
                raise HttpError(os_fault(404, f"{missing} {marker} could not be found."))
            raise HttpError(os_fault(400, f"Invalid input received: marker [{marker}] not found"))
        items = items[ids.index(marker) + 1:]
    limit = ctx.req.q("limit")
    if limit is not None:
        if not limit.isdigit():
            raise HttpError(os_fault(400, "Invalid input received: limit must be an integer 0 or greater"))
        items = items[: int(limit)]
    return items


# ---- versions ---------------------------------------------------------------------------------------------
def _versions_body(base: str) -> dict[str, Any]:
    return {"versions": [{
        "id": "v3.0", "status": "CURRENT", "version": mv_str(MAX_VOLUME_MV), "min_version": mv_str(MIN_VOLUME_MV),
        "updated": "2023-08-31T00:00:00Z",
        "links": [{"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
                  {"rel": "self", "href": f"{base}/volume/v3/"}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}],
    }]}


def root(world: World, req: Request) -> Response:
    req.ctx["mv_echo"] = "volume 3.0"
    return json_response(300, _versions_body(req.base_url))


def v3_root(world: World, req: Request) -> Response:
    authenticate(world, req)
    parse_microversion(req)
    return json_response(200, _versions_body(req.base_url))


# ---- volumes ----------------------------------------------------------------------------------------------
_TIME_OPS: dict[str, Callable[[datetime, datetime], bool]] = {
    "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b, "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
    "eq": lambda a, b: a == b, "neq": lambda a, b: a != b}


def _time_filter(raw: str) -> Callable[[datetime | None], bool]:
    """cinder.api.common: `updated_at=lt:2026-12-04T05:00:00` (an unknown operator or time: 400 "Invalid <value>
    value"); a volume never updated has no updated_at and matches nothing."""
    op, _, value = raw.partition(":") if ":" in raw and raw.split(":", 1)[0] in _TIME_OPS else ("eq", "", raw)
    try:
        moment = datetime.fromisoformat(value.rstrip("Z")).replace(tzinfo=None)
    except ValueError:
        raise HttpError(os_fault(400, f"Invalid {value} value")) from None
    compare = _TIME_OPS[op]
    return lambda found: found is not None and compare(found.replace(microsecond=0), moment)


# Packaged Cinder's etc/cinder/resource_filters.json (the filters a non-admin may use from 3.31), for the lists the
# demo serves; the real-cloud rig points resource_query_filters_file at the same file (tests/realcloud/up.sh).
RESOURCE_FILTERS = {
    "volume": ("name", "status", "metadata", "bootable", "migration_status", "availability_zone", "group_id",
               "size", "created_at", "updated_at", "consumes_quota"),
    "snapshot": ("name", "status", "volume_id", "metadata", "availability_zone", "consumes_quota"),
}
# What cinder.api.common pops before the filters are checked (pagination, sorting; with_count from 3.45).
NOT_FILTERS = ("marker", "limit", "offset", "sort", "sort_key", "sort_dir")


def check_filters(ctx: Ctx, resource: str) -> None:
    """cinder.api.common.reject_invalid_filters from 3.31: an admin may filter by anything; anyone else only by
    the resource's configured filters (a member's all_tenants is dropped silently, bug 1917574)."""
    if ctx.mv < (3, 31) or ctx.admin:
        return
    skip = NOT_FILTERS + (("with_count",) if ctx.mv >= (3, 45) else ())
    invalid = [k for k in ctx.req.query if k not in skip and k not in RESOURCE_FILTERS[resource]
               and k != "all_tenants"]
    if invalid:
        raise HttpError(os_fault(400, f"Invalid filters {','.join(invalid)} are found in query options."))


def _volume_filters(ctx: Ctx, vols: list[dict[str, Any]]) -> list[dict[str, Any]]:
    check_filters(ctx, "volume")
    for key in ("name", "status", "project_id"):
        wanted = ctx.req.q(key)
        if wanted is not None:
            vols = [v for v in vols if v[key] == wanted]
    updated = ctx.req.q("updated_at")
    if updated is not None:
        matches = _time_filter(updated)
        vols = [v for v in vols if matches(v["updated_at"])]
    return vols


@api()
def volumes_index(ctx: Ctx) -> Response:
    vols = paged(ctx, _volume_filters(ctx, visible(ctx, list(ctx.world.volumes.values()))))
    return json_response(200, {"volumes": [views.volume_summary(v, base=ctx.req.base_url,
                                                                url_project=ctx.url_project) for v in vols]})


@api()
def volumes_detail(ctx: Ctx) -> Response:
    vols = paged(ctx, _volume_filters(ctx, visible(ctx, list(ctx.world.volumes.values()))), missing="Volume",
                 by_second=True)
    body: dict[str, Any] = {"volumes": [views.volume_view(
        ctx.world, v, base=ctx.req.base_url, url_project=ctx.url_project, mv=ctx.mv, admin=ctx.admin)
        for v in vols]}
    limit = ctx.req.q("limit")
    if vols and limit is not None and len(vols) == int(limit):
        # A full page links to the next (captures 150, 153): the same query from after its last volume.
        query = [(k, v) for k, vs in ctx.req.query.items() if k != "marker" for v in vs] + [("marker", vols[-1]["id"])]
        body["volumes_links"] = [{"rel": "next", "href": f"{ctx.req.base_url}{ctx.req.path}?{urlencode(query)}"}]
    return json_response(200, body)


@api()
def volume_show(ctx: Ctx, volume_id: str) -> Response:
    vol = get_volume(ctx, volume_id)
    return json_response(200, {"volume": views.volume_view(
        ctx.world, vol, base=ctx.req.base_url, url_project=ctx.url_project, mv=ctx.mv, admin=ctx.admin)})


@api()
def volume_update(ctx: Ctx, volume_id: str) -> Response:
    """PUT /volumes/{id}: rename, describe, replace metadata (what `openstack volume set --name` sends). Any status
    but maintenance; 200 with the volume's detail view (captured from real Cinder: docs/democloud.md)."""
    body = body_json(ctx.req)
    validate(body, VOLUME_UPDATE_353 if ctx.mv >= (3, 53) else VOLUME_UPDATE)
    fields = dict(body["volume"])
    for key in ("name", "description", "display_name", "display_description"):
        if isinstance(fields.get(key), str):
            fields[key] = fields[key].strip()
            what = "description" if "description" in key else "name"
            if len(fields[key]) > 255:
                raise HttpError(os_fault(400, f"Invalid input received: {what} has {len(fields[key])} characters, "
                                              "more than 255."))
    vol = get_volume(ctx, volume_id)
    if vol["status"] == "maintenance":
        raise HttpError(os_fault(400, "Invalid volume: The volume cannot be updated during maintenance."))
    for given, stored in (("name", "name"), ("display_name", "name"), ("description", "description"),
                          ("display_description", "description")):
        if given in fields:
            vol[stored] = fields[given]
    if "metadata" in fields:
        vol["metadata"] = {str(k): str(v) for k, v in fields["metadata"].items()}
    vol["updated_at"] = now()
    view = views.volume_view(ctx.world, vol, base=ctx.req.base_url, url_project=ctx.url_project, mv=ctx.mv,
                             admin=ctx.admin)
    # Real Cinder's answer to a PUT is the detail view without the tenant attribute a GET carries (captured).
    view.pop("os-vol-tenant-attr:tenant_id", None)
    return json_response(200, {"volume": view})


@api()
def volume_create(ctx: Ctx) -> Response:
    body = body_json(ctx.req)
    validate(body, VOLUME_CREATE)
    spec = body["volume"]
    world = ctx.world
    size = spec.get("size")
    if size is None:
        raise HttpError(os_fault(400, "Invalid input received: Volume size '' must be an integer and greater "
                                      "than 0"))
    size = int(size)
    vtype = find_type(ctx, spec["volume_type"]) if spec.get("volume_type") else world.default_type()
    quota_check_gigabytes(ctx, ctx.project_id, size)
    count = sum(1 for v in world.volumes.values() if v["project_id"] == ctx.project_id)
    if count + 1 > world.quotas[ctx.project_id]["volumes"]:
        raise HttpError(os_fault(413, "VolumeLimitExceeded: Maximum number of volumes allowed "
                                      f"({world.quotas[ctx.project_id]['volumes']}) exceeded for quota "
                                      "'volumes'.", retryAfter="0").header("Retry-After", "0"))
    # Made from a snapshot: recorded (the volume shows it as `snapshot_id`, captured 114); the data is not copied.
    source = get_snapshot(ctx, spec["snapshot_id"])["id"] if spec.get("snapshot_id") else None
    vol = world.add_volume(str(uuid.uuid4()), ctx.project_id, ctx.user_id, spec.get("name", spec.get(
        "display_name")), size, vtype["id"], status="creating", description=spec.get("description"),
        snapshot_id=source)
    vol["metadata"] = dict(spec.get("metadata") or {})
    view = views.volume_view(world, vol, base=ctx.req.base_url, url_project=ctx.url_project, mv=ctx.mv,
                             admin=ctx.admin, created=True)

    def created() -> None:
        if world.volumes.get(vol["id"]) is vol and vol["status"] == "creating":
            vol["status"] = "available"
            vol["updated_at"] = now()
    world.clock.after(world.config["delay"], created)
    return json_response(202, {"volume": view})


@api()
def volume_delete(ctx: Ctx, volume_id: str) -> Response:
    world = ctx.world
    vol = get_volume(ctx, volume_id)
    has_snaps = any(s["volume_id"] == volume_id for s in world.snapshots.values())
    deletable = ("available", "error", "error_restoring", "error_extending", "error_managing")
    if vol["status"] not in deletable or vol["attachments"] or has_snaps or vol["migration_status"]:
        raise HttpError(os_fault(400, "Invalid volume: Volume status must be available or error or "
                                      "error_restoring or error_extending or error_managing and must not be "
                                      "migrating, attached, belong to a group, have snapshots, awaiting a "
                                      "transfer, or be disassociated from snapshots after volume transfer."))
    return begin_delete(world, vol)


def begin_delete(world: World, vol: dict[str, Any]) -> Response:
    """The volume goes `deleting` and is gone after the delay; the delete's 202 (also os-force_delete's)."""
    vol["status"] = "deleting"
    vol["updated_at"] = now()

    def deleted() -> None:
        if world.volumes.get(vol["id"]) is vol:
            del world.volumes[vol["id"]]
    world.clock.after(world.config["delay"], deleted)
    return empty_response(202)


# ---- snapshots --------------------------------------------------------------------------------------------
def _snapshots(ctx: Ctx) -> list[dict[str, Any]]:
    check_filters(ctx, "snapshot")
    snaps = visible(ctx, list(ctx.world.snapshots.values()))
    for key in ("volume_id", "status", "name"):
        wanted = ctx.req.q(key)
        if wanted is not None:
            snaps = [s for s in snaps if s[key] == wanted]
    return paged(ctx, snaps)


@api()
def snapshots_index(ctx: Ctx) -> Response:
    return json_response(200, {"snapshots": [views.snapshot_view(s, mv=ctx.mv, detail=False)
                                             for s in _snapshots(ctx)]})


@api()
def snapshots_detail(ctx: Ctx) -> Response:
    return json_response(200, {"snapshots": [views.snapshot_view(s, mv=ctx.mv, detail=True)
                                             for s in _snapshots(ctx)]})


@api()
def snapshot_show(ctx: Ctx, snapshot_id: str) -> Response:
    return json_response(200, {"snapshot": views.snapshot_view(get_snapshot(ctx, snapshot_id), mv=ctx.mv,
                                                               detail=True)})


@api()
def snapshot_create(ctx: Ctx) -> Response:
    body = body_json(ctx.req)
    validate(body, SNAPSHOT_CREATE)
    spec = body["snapshot"]
    world = ctx.world
    vol = get_volume(ctx, spec["volume_id"])
    force = as_bool(spec.get("force", False))
    if "force" in spec and not force and ctx.mv >= (3, 66):  # cinder/api/v3/snapshots.py, captured
        raise HttpError(os_fault(400, "Since microversion 3.66 the 'force' flag is invalid for this request.  "
                                      "For backward compatability, however, when the 'force' flag is passed "
                                      "with a value evaluating to True, it is silently ignored."))
    allowed = ("available", "in-use") if (force or ctx.mv >= (3, 66)) else ("available",)
    if vol["status"] not in allowed:
        raise HttpError(os_fault(400, f"Invalid volume: Volume {vol['id']} status must be {', '.join(allowed)}, "
                                      f"but current status is: {vol['status']}."))
    quota_check_gigabytes(ctx, vol["project_id"], vol["size"])
    # Stripped, as cinder-api's clean_name_and_description does (captured).
    name, description = (v.strip() if isinstance(v, str) else v
                         for v in (spec.get("name", spec.get("display_name")), spec.get("description")))
    snap = world.add_snapshot(str(uuid.uuid4()), vol["id"], name, status="creating", description=description)
    snap["metadata"] = dict(spec.get("metadata") or {})
    view = views.snapshot_view(snap, mv=ctx.mv, detail=False, created=True)

    def created() -> None:
        if world.snapshots.get(snap["id"]) is snap and snap["status"] == "creating":
            # A driver failure leaves the snapshot in error (cinder.volume.manager.create_snapshot).
            snap["status"] = "error" if world.faults["backend"].get("snapshot") else "available"
            snap["updated_at"] = now()
    world.clock.after(world.config["delay"], created)
    return json_response(202, {"snapshot": view})


@api()
def snapshot_delete(ctx: Ctx, snapshot_id: str) -> Response:
    world = ctx.world
    snap = get_snapshot(ctx, snapshot_id)
    if snap["status"] not in ("available", "error"):
        raise HttpError(os_fault(400, "Invalid snapshot: Snapshot status must be available or error and must "
                                      "not be part of a group."))  # captured (113)
    snap["status"] = "deleting"
    snap["updated_at"] = now()

    def deleted() -> None:
        if world.snapshots.get(snapshot_id) is not snap or snap["status"] != "deleting":
            return
        # cinder.volume.manager.delete_snapshot: a driver's SnapshotIsBusy (volumes made from it on backends
        # that clone) puts it back to available; any other driver failure leaves it error_deleting.
        fault = world.faults["backend"].get("delete_snapshot")
        if fault:
            snap["status"] = "available" if fault == "busy" else "error_deleting"
            snap["updated_at"] = now()
        else:
            del world.snapshots[snapshot_id]
    world.clock.after(world.config["delay"], deleted)
    return empty_response(202)
