"""Keystone v3 subset: version documents, password/token auth with project scope, validation, revocation,
project listings, and the service catalog every other service is found through."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from .state import World, now, stable_hex
from .web import HttpError, Request, Response, Router, empty_response, json_response, keystone_error, parse_json

UNAUTHORIZED = "The request you have made requires authentication."
IMPLIED_ROLES = {"admin": ["admin", "member", "reader"], "member": ["member", "reader"], "reader": ["reader"]}


def iso_keystone(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def version_entry(base: str) -> dict[str, Any]:
    return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{base}/identity/v3/"}],
            "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]}


def catalog(world: World, base: str, project_id: str) -> list[dict[str, Any]]:
    """Devstack-style catalog on one host; the volume URL carries the project like Keystone's $(project_id)s.
    A service the cloud does not run (config `without`) has no entry at all, as in a storage-only deployment."""
    services = (("identity", "keystone", f"{base}/identity"),
                ("volumev3", "cinderv3", f"{base}/volume/v3/{project_id}"),
                ("block-storage", "cinder", f"{base}/volume/v3/{project_id}"),
                ("compute", "nova", f"{base}/compute/v2.1"),
                ("image", "glance", f"{base}/image"))
    entries = []
    for stype, name, url in services:
        if not world.deployed(stype):
            continue
        endpoints = [{"id": stable_hex("endpoint", f"{stype}:{iface}"), "interface": iface, "region_id": "RegionOne",
                      "url": url, "region": "RegionOne"} for iface in ("public", "internal", "admin")]
        entries.append({"endpoints": endpoints, "id": stable_hex("service", stype), "type": stype, "name": name})
    return entries


def roles_for(world: World, user_id: str, project_id: str) -> list[str]:
    names: list[str] = []
    for uid, pid, role in world.assignments:
        if uid == user_id and pid == project_id:
            for implied in IMPLIED_ROLES[role]:
                if implied not in names:
                    names.append(implied)
    return names


def projects_of(world: World, user_id: str) -> list[dict[str, Any]]:
    pids = {pid for uid, pid, _ in world.assignments if uid == user_id}
    return [p for pid, p in world.projects.items() if pid in pids]


def lookup_token(world: World, token_id: str | None) -> dict[str, Any] | None:
    """A live token, or None when it is unknown, revoked or expired."""
    if not token_id:
        return None
    tok = world.tokens.get(token_id)
    if tok is None or tok["expires_at"] <= now():
        return None
    return tok


def authenticate(world: World, req: Request) -> dict[str, Any]:
    """The keystonemiddleware step every service runs first: 401 in Keystone's shape when the token is bad."""
    tok = lookup_token(world, req.header("X-Auth-Token"))
    if tok is None or tok["project_id"] is None:
        raise HttpError(keystone_error(401, UNAUTHORIZED).header(
            "WWW-Authenticate", f'Keystone uri="{req.base_url}/identity"'))
    return tok


def token_body(world: World, tok: dict[str, Any], base: str, with_catalog: bool = True) -> dict[str, Any]:
    user = world.users[tok["user_id"]]
    body: dict[str, Any] = {
        "methods": tok["methods"],
        "user": {"domain": dict(world.domain), "id": user["id"], "name": user["name"], "password_expires_at": None},
        "audit_ids": tok["audit_ids"],
        "expires_at": iso_keystone(tok["expires_at"]),
        "issued_at": iso_keystone(tok["issued_at"]),
    }
    if tok["project_id"]:
        project = world.projects[tok["project_id"]]
        body["project"] = {"domain": dict(world.domain), "id": project["id"], "name": project["name"]}
        body["is_domain"] = False
        body["roles"] = [{"id": world.roles[name], "name": name} for name in tok["roles"]]
        if with_catalog:
            body["catalog"] = catalog(world, base, project["id"])
    return {"token": body}


def _bad_request(message: str) -> HttpError:
    return HttpError(keystone_error(400, message))


def _unauthorized() -> HttpError:
    return HttpError(keystone_error(401, UNAUTHORIZED))


def _find_domain(world: World, ref: Any) -> bool:
    if not isinstance(ref, dict):
        return False
    return ref.get("id") == world.domain["id"] or ref.get("name") == world.domain["name"]


def _password_user(world: World, password: Any) -> dict[str, Any]:
    user_ref = password.get("user") if isinstance(password, dict) else None
    if not isinstance(user_ref, dict):
        raise _bad_request("Invalid input for field 'identity/password/user': None is not of type 'object'")
    if "id" in user_ref:
        user = world.users.get(user_ref["id"])
    elif "name" in user_ref:
        if not _find_domain(world, user_ref.get("domain")):
            raise _unauthorized()
        user = next((u for u in world.users.values() if u["name"] == user_ref["name"]), None)
    else:
        raise _bad_request("Expecting to find id or name in user - the server could not comply with the request "
                           "since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
    if user is None or user_ref.get("password") != user["password"]:
        raise _unauthorized()
    return user


def _scope_project(world: World, scope: Any) -> str | None:
    if scope is None:
        return None
    project_ref = scope.get("project") if isinstance(scope, dict) else None
    if not isinstance(project_ref, dict):
        # Domain and system scope exist in Keystone; the demo cloud grants neither.
        raise _unauthorized()
    if "id" in project_ref:
        return project_ref["id"] if project_ref["id"] in world.projects else None
    if not _find_domain(world, project_ref.get("domain")):
        raise _unauthorized()
    return next((pid for pid, p in world.projects.items() if p["name"] == project_ref.get("name")), None)


def create_token(world: World, req: Request) -> Response:
    try:
        body = parse_json(req.body)
        identity = body["auth"]["identity"]
        methods = identity["methods"]
    except (ValueError, KeyError, TypeError):
        raise _bad_request("Invalid input for field 'auth': 'identity' is a required property") from None
    auth = body["auth"]
    if methods == ["password"]:
        user = _password_user(world, identity.get("password"))
        audit_ids = [secrets.token_urlsafe(16)[:22]]
    elif methods == ["token"]:
        old = lookup_token(world, (identity.get("token") or {}).get("id"))
        if old is None:
            raise _unauthorized()
        user = world.users[old["user_id"]]
        # Keystone's audit chain: the new token's own id, then the chain's root (the first token's).
        audit_ids = [secrets.token_urlsafe(16)[:22], old["audit_ids"][-1]]
    else:
        raise _unauthorized()
    scope = auth.get("scope")
    project_id = _scope_project(world, scope)
    if scope is not None and (project_id is None or not roles_for(world, user["id"], project_id)):
        raise _unauthorized()
    issued = now()
    tok = {"user_id": user["id"], "project_id": project_id,
           "roles": roles_for(world, user["id"], project_id) if project_id else [],
           "methods": methods, "issued_at": issued,
           "expires_at": issued + timedelta(seconds=float(world.config["token_ttl"])), "audit_ids": audit_ids}
    token_id = "gAAAAAB" + secrets.token_urlsafe(120)
    world.tokens[token_id] = tok
    with_catalog = req.q("nocatalog") is None
    return json_response(201, token_body(world, tok, req.base_url, with_catalog),
                         [("X-Subject-Token", token_id), ("Vary", "X-Auth-Token")])


def _caller(world: World, req: Request) -> dict[str, Any]:
    tok = lookup_token(world, req.header("X-Auth-Token"))
    if tok is None:
        raise _unauthorized()
    return tok


def validate_token(world: World, req: Request) -> Response:
    _caller(world, req)
    subject = req.header("X-Subject-Token") or ""
    tok = lookup_token(world, subject)
    if tok is None:
        raise HttpError(keystone_error(404, f"Could not find token: {subject}."))
    with_catalog = req.q("nocatalog") is None
    return json_response(200, token_body(world, tok, req.base_url, with_catalog),
                         [("X-Subject-Token", subject), ("Vary", "X-Auth-Token")])


def revoke_token(world: World, req: Request) -> Response:
    _caller(world, req)
    subject = req.header("X-Subject-Token") or ""
    tok = lookup_token(world, subject)
    if tok is None:
        raise HttpError(keystone_error(404, f"Could not find token: {subject}."))
    del world.tokens[subject]
    # As Keystone 30: the tokens whose chain root this token is (rescoped from it) go too, unless cascade=false.
    if (req.q("cascade") or "true").lower() not in ("false", "0", "no", "off", "n", "f"):
        root = tok["audit_ids"][0]
        for token_id, other in list(world.tokens.items()):
            if len(other["audit_ids"]) > 1 and other["audit_ids"][-1] == root:
                del world.tokens[token_id]
    return empty_response(204, None)


def _project_view(project: dict[str, Any], base: str) -> dict[str, Any]:
    return {"id": project["id"], "name": project["name"], "domain_id": project["domain_id"],
            "description": project["description"], "enabled": True, "parent_id": project["domain_id"],
            "is_domain": False, "tags": [], "options": {},
            "links": {"self": f"{base}/identity/v3/projects/{project['id']}"}}


def auth_projects(world: World, req: Request) -> Response:
    tok = _caller(world, req)
    projects = [_project_view(p, req.base_url) for p in projects_of(world, tok["user_id"])]
    return json_response(200, {"projects": projects, "links": {
        "self": f"{req.base_url}/identity/v3/auth/projects", "previous": None, "next": None}})


def user_projects(world: World, req: Request, user_id: str) -> Response:
    tok = _caller(world, req)
    if tok["user_id"] != user_id and "admin" not in tok["roles"]:
        raise HttpError(keystone_error(403, "You are not authorized to perform the requested action: "
                                            "identity:list_user_projects."))
    if user_id not in world.users:
        raise HttpError(keystone_error(404, f"Could not find user: {user_id}."))
    projects = [_project_view(p, req.base_url) for p in projects_of(world, user_id)]
    return json_response(200, {"projects": projects, "links": {
        "self": f"{req.base_url}/identity/v3/users/{user_id}/projects", "previous": None, "next": None}})


# GET /v3/projects's filters (keystone.api.projects.ProjectsResource.get); Keystone ignores any other parameter.
PROJECT_FILTERS = ("domain_id", "name", "parent_id")


def list_projects(world: World, req: Request) -> Response:
    """Every project (not domains), for a caller with the admin role (identity:list_projects, whose deprecated
    rule admin_required the default policy still honours); ordered by id as Keystone's SQL backend returns them.
    The collection's self link repeats the query."""
    tok = _caller(world, req)
    if "admin" not in tok["roles"]:
        raise HttpError(keystone_error(403, "You are not authorized to perform the requested action: "
                                            "identity:list_projects."))
    wanted = {name: req.q(name) for name in PROJECT_FILTERS if req.q(name) is not None}
    projects = [_project_view(p, req.base_url) for _, p in sorted(world.projects.items())]
    projects = [p for p in projects if all(p[name] == value for name, value in wanted.items())]
    query = urlencode([(k, v) for k, values in req.query.items() for v in values])
    return json_response(200, {"projects": projects, "links": {
        "self": f"{req.base_url}/identity/v3/projects" + (f"?{query}" if query else ""),
        "previous": None, "next": None}})


def auth_catalog(world: World, req: Request) -> Response:
    tok = _caller(world, req)
    if not tok["project_id"]:
        raise HttpError(keystone_error(403, "A catalog can only be requested by a scoped token."))
    return json_response(200, {"catalog": catalog(world, req.base_url, tok["project_id"]),
                               "links": {"self": f"{req.base_url}/identity/v3/auth/catalog"}})


def versions(world: World, req: Request) -> Response:
    return json_response(300, {"versions": {"values": [version_entry(req.base_url)]}})


def version_v3(world: World, req: Request) -> Response:
    return json_response(200, {"version": version_entry(req.base_url)})


def register(router: Router) -> None:
    router.add("GET", "/identity", versions)
    router.add("GET", "/identity/v3", version_v3)
    router.add("POST", "/identity/v3/auth/tokens", create_token)
    router.add("GET", "/identity/v3/auth/tokens", validate_token)
    router.add("DELETE", "/identity/v3/auth/tokens", revoke_token)
    router.add("GET", "/identity/v3/auth/projects", auth_projects)
    router.add("GET", "/identity/v3/auth/catalog", auth_catalog)
    router.add("GET", "/identity/v3/users/{user_id}/projects", user_projects)
    router.add("GET", "/identity/v3/projects", list_projects)

