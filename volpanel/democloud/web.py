"""Request/response values, a tiny path router and the fault bodies each OpenStack service answers with."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

# Fault names shared by Cinder and Nova (their wsgi layers derive from the same code).
FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound", 405: "badMethod",
               409: "conflictingRequest", 413: "overLimit", 415: "badMediaType", 429: "overLimit",
               501: "notImplemented", 503: "serviceUnavailable"}

# webob's default explanations, used when a fault rule gives only a status.
DEFAULT_EXPLANATIONS = {
    400: "The server could not comply with the request since it is either malformed or otherwise incorrect.",
    401: "This server could not verify that you are authorized to access the document you requested.",
    403: "Access was denied to this resource.",
    404: "The resource could not be found.",
    409: "There was a conflict when trying to complete your request.",
    413: "The body of your request was too large for this server.",
    429: "This request was rate-limited.",
    500: "The server has either erred or is incapable of performing the requested operation.",
    502: "Bad gateway.",
    503: "The server is currently unavailable. Please try again at a later time.",
    504: "The gateway has timed out.",
}


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    base_url: str
    request_id: str
    ctx: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, method: str, target: str, headers: Message, body: bytes, base_url: str,
              request_id: str) -> Request:
        path, _, qs = target.partition("?")
        return cls(method, path, parse_qs(qs, keep_blank_values=True), headers, body, base_url, request_id)

    def q(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str, value: str) -> Response:
        self.headers.append((name, value))
        return self


class HttpError(Exception):
    """Raised anywhere in a handler to answer with a ready-made response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def json_response(status: int, obj: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, json.dumps(obj).encode(), [("Content-Type", "application/json"), *(headers or [])])


def empty_response(status: int, content_type: str | None = "application/json") -> Response:
    """Cinder's 202s carry a JSON content type and no body; Nova's and Keystone's carry neither."""
    return Response(status, b"", [("Content-Type", content_type)] if content_type else [])


def os_fault(status: int, message: str, **extra: Any) -> Response:
    """Cinder/Nova fault: {"badRequest": {"code": 400, "message": ...}}."""
    name = FAULT_NAMES.get(status, "computeFault")
    return json_response(status, {name: {"code": status, "message": message, **extra}})


def keystone_error(status: int, message: str) -> Response:
    return json_response(status, {"error": {"code": status, "title": reason(status), "message": message}})


def glance_error(status: int, message: str) -> Response:
    """Glance answers errors with webob's HTML page, not JSON."""
    phrase = f"{status} {reason(status)}"
    html = (f"<html>\n <head>\n  <title>{phrase}</title>\n </head>\n <body>\n  <h1>{phrase}</h1>\n"
            f"  {message}<br /><br />\n\n\n\n </body>\n</html>")
    return Response(status, html.encode(), [("Content-Type", "text/html; charset=UTF-8")])


def fault_for_service(service: str, status: int, message: str | None = None) -> Response:
    if status == 401:
        # keystonemiddleware answers every service's 401, in Keystone's shape (captures 64, 65).
        return keystone_error(401, message or "The request you have made requires authentication.")
    text = message or DEFAULT_EXPLANATIONS.get(status, reason(status))
    if service == "identity":
        return keystone_error(status, text)
    if service == "image":
        return glance_error(status, text)
    extra = {"retryAfter": "0"} if status == 413 else {}
    return os_fault(status, text, **extra)


def parse_json(body: bytes) -> Any:
    """Decode a JSON body; raises ValueError on anything that is not JSON."""
    return json.loads(body.decode("utf-8"))


Handler = Callable[..., Response]


@dataclass
class Route:
    method: str
    template: str
    regex: re.Pattern[str]
    handler: Handler


class Router:
    """Matches "/volume/v3/{project_id}/volumes/{volume_id}" style templates; the template names the counter."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        self.routes.append(Route(method, template, re.compile(f"^{pattern}/?$"), handler))

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """Return (route, params, path_known); path_known tells 405 from 404."""
        path_known = False
        for route in self.routes:
            m = route.regex.match(path)
            if not m:
                continue
            path_known = True
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, m.groupdict(), True
        return None, {}, path_known
