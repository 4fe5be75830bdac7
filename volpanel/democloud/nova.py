"""Nova subset: servers, server volume attachments (the attach/detach path real dashboards use) and
instance actions, with Nova's microversion headers and fault shapes."""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from typing import Any

from .keystone import authenticate
from .schema import UUID, validate
from .state import COMPUTE_HOST, World, iso_db, iso_z, now
from .web import HttpError, Request, Response, Router, empty_response, json_response, os_fault, parse_json

MIN_MV = (2, 1)
MAX_MV = (2, 104)  # Nova 34 (2025.2)
_MV_RE = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")
ATTACH_BODY = {"type": "object", "properties": {"volumeAttachment": {
    "type": "object",
    "properties": {"volumeId": UUID,
                   "device": {"type": ["string", "null"], "pattern": "(^/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$"},
                   "tag": {"type": "string", "maxLength": 60}, "delete_on_termination": {"type": "boolean"}},
    "required": ["volumeId"], "additionalProperties": False}}, "required": ["volumeAttachment"],
    "additionalProperties": False}


def _mv_text(mv: tuple[int, int]) -> str:
    return f"{mv[0]}.{mv[1]}"


def parse_microversion(req: Request) -> tuple[int, int]:
    requested = None
    header = req.header("OpenStack-API-Version")
    if header:
        for item in header.split(","):
            service, _, value = item.strip().partition(" ")
            if service.lower() == "compute":
                requested = value.strip()
    if requested is None:
        requested = req.header("X-OpenStack-Nova-API-Version")
    if requested is None:
        mv = MIN_MV
    elif requested.lower() == "latest":
        mv = MAX_MV
    else:
        m = _MV_RE.match(requested)
        if not m:
            raise HttpError(os_fault(400, f"API Version String {requested} is of invalid format. Must be of format "
                                          "MajorNum.MinorNum."))
        mv = (int(m.group(1)), int(m.group(2)))
        if not MIN_MV <= mv <= MAX_MV:
            raise HttpError(os_fault(406, f"Version {requested} is not supported by the API. Minimum is "
                                          f"{_mv_text(MIN_MV)} and maximum is {_mv_text(MAX_MV)}."))
    req.ctx["compute_mv"] = _mv_text(mv)
    return mv


def _pipeline(world: World, req: Request) -> tuple[dict[str, Any], tuple[int, int]]:
    return authenticate(world, req), parse_microversion(req)


def _is_admin(token: dict[str, Any]) -> bool:
    return "admin" in token["roles"]


def get_server(world: World, token: dict[str, Any], server_id: str) -> dict[str, Any]:
    server = world.servers.get(server_id)
    if server is None or (not _is_admin(token) and server["project_id"] != token["project_id"]):
        raise HttpError(os_fault(404, f"Instance {server_id} could not be found."))
    return server


def nova_attachments(world: World, server_id: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Nova's block device mappings: the attachments Nova itself made, from reservation on."""
    return [(vol, att) for vol in world.volumes.values() for att in vol["attachments"]
            if att["by_nova"] and att["server_id"] == server_id]


def attachment_view(vol: dict[str, Any], att: dict[str, Any], server_id: str, mv: tuple[int, int]) -> dict[str, Any]:
    # Nova's key order (_translate_attachment_summary_view): id (before 2.89), volumeId, serverId, device, ...
    view: dict[str, Any] = {"id": vol["id"]} if mv < (2, 89) else {}
    view.update({"volumeId": vol["id"], "serverId": server_id, "device": att["mountpoint"]})
    if mv >= (2, 70):
        view["tag"] = None
    if mv >= (2, 79):
        view["delete_on_termination"] = False
    if mv >= (2, 89):
        view["attachment_id"] = att["attachment_id"]
        view["bdm_uuid"] = str(uuid.uuid5(uuid.NAMESPACE_OID, att["attachment_id"]))
    return view


def _links(base: str, kind: str, rid: str) -> list[dict[str, str]]:
    return [{"rel": "self", "href": f"{base}/compute/v2.1/{kind}/{rid}"},
            {"rel": "bookmark", "href": f"{base}/compute/{kind}/{rid}"}]


def server_view(world: World, server: dict[str, Any], base: str, mv: tuple[int, int]) -> dict[str, Any]:
    sid = server["id"]
    octet = int(hashlib.sha1(sid.encode()).hexdigest()[:2], 16) % 200 + 10
    volumes_attached: list[dict[str, Any]] = []
    for vol, _ in nova_attachments(world, sid):
        entry: dict[str, Any] = {"id": vol["id"]}
        if mv >= (2, 3):
            entry["delete_on_termination"] = False
        volumes_attached.append(entry)
    return {
        "id": sid, "name": server["name"], "status": server["status"], "tenant_id": server["project_id"],
        "user_id": server["user_id"], "metadata": {},
        "hostId": hashlib.sha224((server["project_id"] + COMPUTE_HOST).encode()).hexdigest(),
        "image": {"id": server["image_id"], "links": [{"rel": "bookmark",
                                                       "href": f"{base}/compute/images/{server['image_id']}"}]},
        "flavor": {"id": server["flavor_id"], "links": [{"rel": "bookmark",
                                                         "href": f"{base}/compute/flavors/{server['flavor_id']}"}]},
        "created": iso_z(server["created"]), "updated": iso_z(server["updated"]),
        "addresses": {"private": [{"version": 4, "addr": f"10.0.0.{octet}", "OS-EXT-IPS:type": "fixed",
                                   "OS-EXT-IPS-MAC:mac_addr": f"fa:16:3e:00:00:{octet:02x}"}]},
        "accessIPv4": "", "accessIPv6": "", "links": _links(base, "servers", sid), "OS-DCF:diskConfig": "MANUAL",
        "progress": 0, "OS-EXT-AZ:availability_zone": "nova", "config_drive": "", "key_name": None,
        "OS-SRV-USG:launched_at": iso_db(server["created"]), "OS-SRV-USG:terminated_at": None,
        "security_groups": [{"name": "default"}], "OS-EXT-STS:task_state": None,
        "OS-EXT-STS:vm_state": "active" if server["status"] == "ACTIVE" else server["status"].lower(),
        "OS-EXT-STS:power_state": 1, "os-extended-volumes:volumes_attached": volumes_attached,
    }


def _visible_servers(world: World, req: Request, token: dict[str, Any]) -> list[dict[str, Any]]:
    all_tenants = _is_admin(token) and (req.q("all_tenants") or "0").lower() not in ("0", "false", "")
    servers = [s for s in world.servers.values() if all_tenants or s["project_id"] == token["project_id"]]
    name = req.q("name")
    if name:
        servers = [s for s in servers if re.search(name, s["name"])]
    return sorted(servers, key=lambda s: s["created"], reverse=True)


# ---- handlers ---------------------------------------------------------------------------------------------
def _version(base: str, vid: str) -> dict[str, Any]:
    if vid == "v2.0":
        return {"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "",
                "updated": "2011-01-21T11:33:21Z", "links": [{"rel": "self", "href": f"{base}/compute/v2/"}]}
    return {"id": "v2.1", "status": "CURRENT", "version": _mv_text(MAX_MV), "min_version": _mv_text(MIN_MV),
            "updated": "2013-07-23T11:33:21Z", "links": [{"rel": "self", "href": f"{base}/compute/v2.1/"}]}


def root(world: World, req: Request) -> Response:
    return json_response(200, {"versions": [_version(req.base_url, "v2.0"), _version(req.base_url, "v2.1")]})


def v21_root(world: World, req: Request) -> Response:
    version = _version(req.base_url, "v2.1")
    version["links"].append({"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"})
    version["media-types"] = [{"base": "application/json",
                               "type": "application/vnd.openstack.compute+json;version=2.1"}]
    return json_response(200, {"version": version})


def servers_index(world: World, req: Request) -> Response:
    token, _ = _pipeline(world, req)
    servers = _visible_servers(world, req, token)
    return json_response(200, {"servers": [{"id": s["id"], "links": _links(req.base_url, "servers", s["id"]),
                                            "name": s["name"]} for s in servers]})


def servers_detail(world: World, req: Request) -> Response:
    token, mv = _pipeline(world, req)
    servers = _visible_servers(world, req, token)
    return json_response(200, {"servers": [server_view(world, s, req.base_url, mv) for s in servers]})


def server_show(world: World, req: Request, server_id: str) -> Response:
    token, mv = _pipeline(world, req)
    return json_response(200, {"server": server_view(world, get_server(world, token, server_id), req.base_url, mv)})


def _json_body(req: Request) -> Any:
    try:
        return parse_json(req.body)
    except (ValueError, UnicodeDecodeError):
        raise HttpError(os_fault(400, "Malformed request body")) from None


def _printable_name(name: Any) -> bool:
    """Nova's `name` format: printable characters (no control or format characters, e.g. bidi overrides), no
    whitespace at either end, 1-255 characters."""
    if not isinstance(name, str) or not 1 <= len(name) <= 255 or name != name.strip():
        return False
    return all(ch == " " or unicodedata.category(ch)[0] not in "CZ" for ch in name)


def server_update(world: World, req: Request, server_id: str) -> Response:
    """PUT /servers/{id}: what `openstack server set --name` sends; the name is all a tenant changes here."""
    token, mv = _pipeline(world, req)
    server = get_server(world, token, server_id)
    body = _json_body(req)
    update = body.get("server") if isinstance(body, dict) else None
    if not isinstance(update, dict) or set(update) - {"name", "description"}:
        raise HttpError(os_fault(400, "Invalid input for field/attribute server."))
    if "name" in update:
        if not _printable_name(update["name"]):
            raise HttpError(os_fault(400, f"Invalid input for field/attribute name. Value: {update['name']}. An "
                                          "invalid 'name' value was provided. The name must be: printable "
                                          "characters. Can not start or end with whitespace."))
        server["name"] = update["name"]
        server["updated"] = now()
    return json_response(200, {"server": server_view(world, server, req.base_url, mv)})


def attachments_index(world: World, req: Request, server_id: str) -> Response:
    token, mv = _pipeline(world, req)
    get_server(world, token, server_id)
    return json_response(200, {"volumeAttachments": [attachment_view(v, a, server_id, mv)
                                                     for v, a in nova_attachments(world, server_id)]})


def _find_bdm(world: World, server_id: str, volume_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    for vol, att in nova_attachments(world, server_id):
        if vol["id"] == volume_id:
            return vol, att
    raise HttpError(os_fault(404, f"Instance {server_id} is not attached to volume {volume_id}"))


def attachment_show(world: World, req: Request, server_id: str, volume_id: str) -> Response:
    token, mv = _pipeline(world, req)
    get_server(world, token, server_id)
    vol, att = _find_bdm(world, server_id, volume_id)
    return json_response(200, {"volumeAttachment": attachment_view(vol, att, server_id, mv)})


def _next_device(world: World, server_id: str) -> str:
    used = {att["mountpoint"] for _, att in nova_attachments(world, server_id)}
    for letter in "bcdefghijklmnopqrstuvwxyz":
        if f"/dev/vd{letter}" not in used:
            return f"/dev/vd{letter}"
    raise HttpError(os_fault(400, "No free disk device names for prefix 'vd'"))


def attachment_create(world: World, req: Request, server_id: str) -> Response:
    token, mv = _pipeline(world, req)
    server = get_server(world, token, server_id)
    body = _json_body(req)
    validate(body, ATTACH_BODY)
    volume_id = body["volumeAttachment"]["volumeId"]
    vol = world.volumes.get(volume_id)
    if vol is None or (not _is_admin(token) and vol["project_id"] != token["project_id"]):
        raise HttpError(os_fault(404, f"Volume {volume_id} could not be found."))
    if any(v["id"] == volume_id for v, _ in nova_attachments(world, server_id)):
        raise HttpError(os_fault(400, f"Invalid volume: volume {volume_id} already attached"))
    if vol["status"] != "available":
        raise HttpError(os_fault(400, f"Invalid volume: Volume {volume_id} status must be available or "
                                      "downloading"))
    device = _next_device(world, server_id)
    world.record_instance_action(server_id, "attach_volume", request_id=req.request_id,
                                 user_id=token["user_id"], project_id=server["project_id"])
    delay = float(world.config["delay"])
    # Nova reserves through the attachments API first (volume `reserved`), then the compute host connects it.
    # Up to 2.100 the reservation is made before Nova answers (200 with the device); from 2.101 Nova answers 202
    # with no body at once and the volume stays `available` until the compute host has reserved it.
    att: dict[str, Any] = {}

    def reserve() -> None:
        if vol["status"] != "available" or vol["attachments"]:
            return
        att.update(world.attach(volume_id, attachment_id=str(uuid.uuid4()), server_id=server_id,
                                host_name=None, mountpoint=device, by_nova=True, attach_status="reserved"))
        vol["status"] = "reserved"

    def ours() -> dict[str, Any] | None:
        return next((a for a in vol["attachments"] if a["attachment_id"] == att.get("attachment_id")), None)

    def attaching() -> None:
        mine = ours()
        if vol["status"] == "reserved" and mine:
            vol["status"] = "attaching"
            mine["attach_status"] = "attaching"

    def attached() -> None:
        mine = ours()
        if vol["status"] in ("reserved", "attaching") and mine:
            vol["status"] = "in-use"
            mine["attach_status"] = "attached"
            mine["attached_at"] = now()
            vol["updated_at"] = now()
    if mv >= (2, 101):
        world.clock.after(delay / 4, reserve)
        world.clock.after(delay / 2, attaching)
        world.clock.after(delay, attached)
        return empty_response(202, None)
    reserve()
    world.clock.after(delay / 2, attaching)
    world.clock.after(delay, attached)
    view = {"id": volume_id, "serverId": server_id, "volumeId": volume_id, "device": device}
    if mv >= (2, 70):
        view["tag"] = None
    if mv >= (2, 79):
        view["delete_on_termination"] = False
    return json_response(200, {"volumeAttachment": view})


def attachment_delete(world: World, req: Request, server_id: str, volume_id: str) -> Response:
    token, _ = _pipeline(world, req)
    server = get_server(world, token, server_id)
    vol, att = _find_bdm(world, server_id, volume_id)
    if vol["status"] not in ("in-use", "reserved", "attaching"):
        raise HttpError(os_fault(400, "Invalid volume: Unable to detach volume. Volume status must be 'in-use' "
                                      "and attach_status must be 'attached' to detach."))
    vol["status"] = "detaching"
    att["attach_status"] = "detaching"
    world.record_instance_action(server_id, "detach_volume", request_id=req.request_id,
                                 user_id=token["user_id"], project_id=server["project_id"])

    def detached() -> None:
        if att in vol["attachments"]:
            world.detach(vol["id"], att["attachment_id"])
    world.clock.after(world.config["delay"], detached)
    return empty_response(202, None)


def _action_view(action: dict[str, Any], mv: tuple[int, int]) -> dict[str, Any]:
    view = {k: action[k] for k in ("action", "instance_uuid", "message", "project_id", "request_id", "user_id")}
    view["start_time"] = iso_db(action["start_time"])
    if mv >= (2, 58):
        view["updated_at"] = iso_db(action["updated_at"])
    return view


def actions_index(world: World, req: Request, server_id: str) -> Response:
    token, mv = _pipeline(world, req)
    get_server(world, token, server_id)
    actions = sorted(world.instance_actions.get(server_id, []), key=lambda a: a["start_time"], reverse=True)
    return json_response(200, {"instanceActions": [_action_view(a, mv) for a in actions]})


def action_show(world: World, req: Request, server_id: str, request_id: str) -> Response:
    token, mv = _pipeline(world, req)
    server = get_server(world, token, server_id)
    action = next((a for a in world.instance_actions.get(server_id, []) if a["request_id"] == request_id), None)
    if action is None:
        raise HttpError(os_fault(404, f"Action for request_id {request_id} on instance {server_id} not found"))
    view = _action_view(action, mv)
    if _is_admin(token) or mv >= (2, 51):
        event: dict[str, Any] = {"event": f"compute_{action['action']}",
                                 "start_time": iso_db(action["start_time"]),
                                 "finish_time": iso_db(action["updated_at"]), "result": "Success"}
        if _is_admin(token):
            event["traceback"] = None
        if mv >= (2, 62):
            if _is_admin(token):
                event["host"] = COMPUTE_HOST
            event["hostId"] = hashlib.sha224((server["project_id"] + COMPUTE_HOST).encode()).hexdigest()
        if _is_admin(token) and mv >= (2, 84):
            event["details"] = None
        view["events"] = [event]
    return json_response(200, {"instanceAction": view})


def register(router: Router) -> None:
    p = "/compute/v2.1"
    router.add("GET", "/compute", root)
    router.add("GET", p, v21_root)
    router.add("GET", f"{p}/servers", servers_index)
    router.add("GET", f"{p}/servers/detail", servers_detail)
    router.add("GET", f"{p}/servers/{{server_id}}", server_show)
    router.add("PUT", f"{p}/servers/{{server_id}}", server_update)
    router.add("GET", f"{p}/servers/{{server_id}}/os-volume_attachments", attachments_index)
    router.add("POST", f"{p}/servers/{{server_id}}/os-volume_attachments", attachment_create)
    router.add("GET", f"{p}/servers/{{server_id}}/os-volume_attachments/{{volume_id}}", attachment_show)
    router.add("DELETE", f"{p}/servers/{{server_id}}/os-volume_attachments/{{volume_id}}", attachment_delete)
    router.add("GET", f"{p}/servers/{{server_id}}/os-instance-actions", actions_index)
    router.add("GET", f"{p}/servers/{{server_id}}/os-instance-actions/{{request_id}}", action_show)
