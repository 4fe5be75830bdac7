"""/_demo/… control API for tests and demos: reset, state dump, run-time config, faults, request counters.
Not in the catalog and not authenticated; the server binds to loopback."""

from __future__ import annotations

from typing import Any

from .state import World
from .web import HttpError, Request, Response, Router, json_response, parse_json

SERVICES = ("identity", "volume", "compute", "image")
# Services a deployment may leave out (Cinder and Keystone are what the demo cloud is).
OPTIONAL_SERVICES = ("compute", "image")
# nova_event "lost": Cinder's volume-extended event never reaches Nova (Nova's API down), so no extend_volume.
BACKEND_ACTIONS = {"extend": ("fail",), "retype": ("silent",), "upload": ("fail",), "revert": ("fail",),
                   "snapshot": ("fail",), "delete_snapshot": ("fail", "busy"), "nova_event": ("lost",),
                   "reimage": ("fail",)}


def _bad(message: str) -> HttpError:
    return HttpError(json_response(400, {"error": message}))


def _body(req: Request) -> dict[str, Any]:
    try:
        body = parse_json(req.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise _bad("body must be a JSON object") from None
    if not isinstance(body, dict):
        raise _bad("body must be a JSON object")
    return body


def reset(world: World, req: Request) -> Response:
    world.reset()
    return json_response(200, {"reset": True, "config": world.config})


def state(world: World, req: Request) -> Response:
    return json_response(200, world.dump())


def get_config(world: World, req: Request) -> Response:
    return json_response(200, world.config)


def set_config(world: World, req: Request) -> Response:
    body = _body(req)
    updates: dict[str, Any] = {}
    for key, value in body.items():
        if key == "delay":
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise _bad("delay must be a number >= 0")
            updates[key] = float(value)
        elif key == "token_ttl":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise _bad("token_ttl must be an integer >= 1")
            updates[key] = value
        elif key == "tenants":
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 99:
                raise _bad("tenants must be an integer 0-99")
            updates[key] = value
        elif key == "snapshot_upload":
            if not isinstance(value, bool):
                raise _bad("snapshot_upload must be a boolean")
            updates[key] = value
        elif key == "without":
            if not isinstance(value, list) or not all(v in OPTIONAL_SERVICES for v in value):
                raise _bad(f"without must be a list of services among {list(OPTIONAL_SERVICES)}")
            updates[key] = sorted(set(value))
        else:
            raise _bad(f"unknown config key {key!r}")
    world.config.update(updates)
    if "tenants" in updates:
        # Users, projects and their volumes exist from a seed: the world is seeded again with them.
        world.reset()
    return json_response(200, world.config)


def _http_rule(rule: Any) -> dict[str, Any]:
    if not isinstance(rule, dict) or rule.get("service") not in SERVICES:
        raise _bad(f"each http rule needs a service among {list(SERVICES)}")
    allowed = {"service", "method", "path", "status", "delay", "close", "times", "after", "message"}
    unknown = set(rule) - allowed
    if unknown:
        raise _bad(f"unknown http rule keys {sorted(unknown)}")
    if "status" in rule and (not isinstance(rule["status"], int) or not 400 <= rule["status"] <= 599):
        raise _bad("status must be an integer 400-599")
    if "delay" in rule and (not isinstance(rule["delay"], (int, float)) or rule["delay"] < 0):
        raise _bad("delay must be a number >= 0")
    if "times" in rule and (not isinstance(rule["times"], int) or rule["times"] < 1):
        raise _bad("times must be an integer >= 1")
    if "after" in rule and (not isinstance(rule["after"], int) or rule["after"] < 0):
        raise _bad("after must be an integer >= 0")
    if not any(k in rule for k in ("status", "delay", "close")):
        raise _bad("an http rule needs status, delay or close")
    return {**rule, "method": rule.get("method", "").upper() or None, "fired": 0, "passed": 0}


def set_faults(world: World, req: Request) -> Response:
    """Backend faults merge (null clears one); http rules are appended and fire in order."""
    body = _body(req)
    unknown = set(body) - {"backend", "http"}
    if unknown:
        raise _bad(f"unknown fault kinds {sorted(unknown)}")
    backend = body.get("backend", {})
    if not isinstance(backend, dict):
        raise _bad("backend must be an object")
    for action, mode in backend.items():
        if action not in BACKEND_ACTIONS or (mode is not None and mode not in BACKEND_ACTIONS[action]):
            raise _bad(f"backend faults: {BACKEND_ACTIONS}")
    rules = body.get("http", [])
    if not isinstance(rules, list):
        raise _bad("http must be a list of rules")
    parsed = [_http_rule(r) for r in rules]
    for action, mode in backend.items():
        if mode is None:
            world.faults["backend"].pop(action, None)
        else:
            world.faults["backend"][action] = mode
    world.faults["http"].extend(parsed)
    return json_response(200, world.faults)


def get_faults(world: World, req: Request) -> Response:
    return json_response(200, world.faults)


def clear_faults(world: World, req: Request) -> Response:
    world.faults = {"backend": {}, "http": []}
    return json_response(200, world.faults)


def requests_count(world: World, req: Request) -> Response:
    return json_response(200, {"total": sum(world.requests.values()), "counts": dict(world.requests)})


def requests_clear(world: World, req: Request) -> Response:
    world.requests.clear()
    return json_response(200, {"total": 0, "counts": {}})


def match_http_fault(world: World, service: str, method: str, path: str) -> dict[str, Any] | None:
    """The first live rule for this request, counted as fired (call under the world lock)."""
    for rule in world.faults["http"]:
        if rule["service"] != service or (rule["method"] and rule["method"] != method):
            continue
        if rule.get("path") and rule["path"] not in path:
            continue
        if rule["passed"] < rule.get("after", 0):
            rule["passed"] += 1  # the first `after` matching requests go through untouched
            continue
        if "times" in rule and rule["fired"] >= rule["times"]:
            continue
        rule["fired"] += 1
        return dict(rule)
    return None


def register(router: Router) -> None:
    router.add("POST", "/_demo/reset", reset)
    router.add("GET", "/_demo/state", state)
    router.add("GET", "/_demo/config", get_config)
    router.add("POST", "/_demo/config", set_config)
    router.add("GET", "/_demo/faults", get_faults)
    router.add("POST", "/_demo/faults", set_faults)
    router.add("DELETE", "/_demo/faults", clear_faults)
    router.add("GET", "/_demo/requests", requests_count)
    router.add("DELETE", "/_demo/requests", requests_clear)
