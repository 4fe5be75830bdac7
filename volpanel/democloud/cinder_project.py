"""Cinder v3 project-wide resources: volume types, limits, quota sets, user messages (3.3+) and the
attachments API (3.27+)."""

from __future__ import annotations

from typing import Any

from . import cinder_views as views
from .cinder import Ctx, api, paged, visible
from .schema import as_bool
from .state import BACKEND_POOLS, World
from .web import HttpError, Response, empty_response, json_response, os_fault


# ---- types, limits, quotas --------------------------------------------------------------------------------
def _types(world: World) -> list[dict[str, Any]]:
    return sorted(world.volume_types.values(), key=lambda t: t["created_at"], reverse=True)


@api()
def types_index(ctx: Ctx) -> Response:
    return json_response(200, {"volume_types": [views.type_view(t, admin=ctx.admin, listing=True)
                                                for t in _types(ctx.world)]})


@api()
def type_show(ctx: Ctx, type_id: str) -> Response:
    vtype = ctx.world.default_type() if type_id == "default" else ctx.world.volume_types.get(type_id)
    if vtype is None:
        raise HttpError(os_fault(404, f"Volume type {type_id} could not be found."))
    return json_response(200, {"volume_type": views.type_view(vtype, admin=ctx.admin, listing=False)})


@api()
def limits(ctx: Ctx) -> Response:
    world, pid = ctx.world, ctx.project_id
    quota = world.quotas[pid]
    vols = [v for v in world.volumes.values() if v["project_id"] == pid]
    snaps = [s for s in world.snapshots.values() if s["project_id"] == pid]
    return json_response(200, {"limits": {"rate": [], "absolute": {
        "maxTotalVolumes": quota["volumes"], "maxTotalSnapshots": quota["snapshots"],
        "maxTotalVolumeGigabytes": quota["gigabytes"], "maxTotalBackups": quota["backups"],
        "maxTotalBackupGigabytes": quota["backup_gigabytes"], "totalVolumesUsed": len(vols),
        "totalGigabytesUsed": world.gigabytes_used(pid), "totalSnapshotsUsed": len(snaps),
        "totalBackupsUsed": 0, "totalBackupGigabytesUsed": 0}}})


@api()
def quota_show(ctx: Ctx, target_project: str) -> Response:
    world = ctx.world
    if target_project != ctx.project_id and not ctx.admin:
        raise HttpError(os_fault(403, "Policy doesn't allow volume_extension:quotas:show to be performed."))
    quota = world.quotas.get(target_project)
    if quota is None:
        raise HttpError(os_fault(404, f"Project {target_project} could not be found."))
    vols = [v for v in world.volumes.values() if v["project_id"] == target_project]
    snaps = [s for s in world.snapshots.values() if s["project_id"] == target_project]
    used = {"volumes": len(vols), "snapshots": len(snaps), "gigabytes": world.gigabytes_used(target_project)}
    values: dict[str, Any] = {k: quota[k] for k in ("volumes", "per_volume_gigabytes", "snapshots", "gigabytes",
                                                    "backups", "backup_gigabytes")}
    for vtype in _types(world):
        name = vtype["name"]
        tvols = [v for v in vols if v["volume_type_id"] == vtype["id"]]
        tsnaps = [s for s in snaps if world.volumes[s["volume_id"]]["volume_type_id"] == vtype["id"]]
        values[f"volumes_{name}"] = -1
        values[f"gigabytes_{name}"] = -1
        values[f"snapshots_{name}"] = -1
        used[f"volumes_{name}"] = len(tvols)
        used[f"gigabytes_{name}"] = sum(v["size"] for v in tvols) + sum(s["size"] for s in tsnaps)
        used[f"snapshots_{name}"] = len(tsnaps)
    values["groups"] = quota["groups"]
    if as_bool(ctx.req.q("usage") or "false"):
        values = {k: {"limit": v, "in_use": used.get(k, 0), "reserved": 0} for k, v in values.items()}
    values["id"] = target_project
    return json_response(200, {"quota_set": values})


# ---- user messages (3.3) and attachments (3.27) -----------------------------------------------------------
def _messages(ctx: Ctx) -> list[dict[str, Any]]:
    msgs = [m for m in ctx.world.messages.values() if ctx.admin or m["project_id"] == ctx.project_id]
    if ctx.mv < (3, 5):
        # cinder/api/v3/messages.py reads no query parameter below MESSAGES_PAGINATION (3.5): no filters, no
        # marker/limit; the whole project's messages, newest first.
        return sorted(msgs, key=lambda m: m["created_at"], reverse=True)
    for key in ("resource_uuid", "event_id", "request_id", "resource_type", "message_level"):
        wanted = ctx.req.q(key)
        if wanted is not None:
            msgs = [m for m in msgs if m.get(key, "VOLUME" if key == "resource_type" else "ERROR") == wanted]
    return paged(ctx, msgs)


@api(min_mv=(3, 3))
def messages_index(ctx: Ctx) -> Response:
    return json_response(200, {"messages": [views.message_view(m, base=ctx.req.base_url,
                                                               url_project=ctx.url_project)
                                            for m in _messages(ctx)]})


def _get_message(ctx: Ctx, message_id: str) -> dict[str, Any]:
    msg = ctx.world.messages.get(message_id)
    if msg is None or (not ctx.admin and msg["project_id"] != ctx.project_id):
        raise HttpError(os_fault(404, f"Message {message_id} could not be found."))
    return msg


@api(min_mv=(3, 3))
def message_show(ctx: Ctx, message_id: str) -> Response:
    return json_response(200, {"message": views.message_view(_get_message(ctx, message_id),
                                                             base=ctx.req.base_url, url_project=ctx.url_project)})


@api(min_mv=(3, 3))
def message_delete(ctx: Ctx, message_id: str) -> Response:
    del ctx.world.messages[_get_message(ctx, message_id)["id"]]
    return empty_response(204, None)


def _attachments(ctx: Ctx, detail: bool) -> Response:
    vols = visible(ctx, list(ctx.world.volumes.values()))
    records = [views.attachment_record(v, a, detail) for v in vols for a in v["attachments"]]
    return json_response(200, {"attachments": sorted(records, key=lambda r: r["id"])})


@api(min_mv=(3, 27))
def attachments_index(ctx: Ctx) -> Response:
    return _attachments(ctx, detail=False)


@api(min_mv=(3, 27))
def attachments_detail(ctx: Ctx) -> Response:
    return _attachments(ctx, detail=True)


# ---- admin (issue 16) -------------------------------------------------------------------------------------
@api()
def scheduler_pools(ctx: Ctx) -> Response:
    """GET /scheduler-stats/get_pools without detail: the pools' names (captures 180, 181)."""
    if not ctx.admin:
        raise HttpError(os_fault(403, "Policy doesn't allow scheduler_extension:scheduler_stats:get_pools to be "
                                      "performed."))
    return json_response(200, {"pools": [{"name": name} for name in BACKEND_POOLS]})
