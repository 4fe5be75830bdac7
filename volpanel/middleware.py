"""What every request and response gets: a request id (in logs and the X-Request-Id header), one access log
line, and the security headers."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware

from volpanel import logs

access_log = logging.getLogger("volpanel.access")

# Scripts only from our own origin (htmx, its SSE extension, volpanel.js): no inline script runs, so a hostile
# volume name that slipped through escaping still could not execute.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def _begin(request: HttpRequest) -> tuple[Any, float]:
    rid = logs.new_request_id(request.headers.get("X-Request-Id"))
    request.request_id = rid  # type: ignore[attr-defined]
    return logs.request_id.set(rid), time.perf_counter()


def _finish(request: HttpRequest, response: HttpResponse, token: Any, started: float) -> HttpResponse:
    response.headers["X-Request-Id"] = request.request_id  # type: ignore[attr-defined]
    # Who, only when the view already read the session (health checks and static files cost no session load).
    creds = getattr(request, "_volpanel_credentials", None)
    access_log.info(
        "%s %s %s", request.method, request.path, response.status_code,
        extra={
            "method": request.method, "path": request.path, "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "streaming": response.streaming,
            "user_id": getattr(creds, "user_id", ""), "project_id": getattr(creds, "project_id", ""),
        },
    )
    logs.request_id.reset(token)
    return response


@sync_and_async_middleware
def request_id(get_response: Callable[[HttpRequest], Any]) -> Callable[[HttpRequest], Any]:
    # Async-capable so a status stream (an async view) is not pushed through a thread by this middleware.
    if iscoroutinefunction(get_response):
        async def amiddleware(request: HttpRequest) -> HttpResponse:
            token, started = _begin(request)
            response = await get_response(request)
            return _finish(request, response, token, started)

        return amiddleware

    def middleware(request: HttpRequest) -> HttpResponse:
        token, started = _begin(request)
        return _finish(request, get_response(request), token, started)

    return middleware


def _secure(response: HttpResponse) -> HttpResponse:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


@sync_and_async_middleware
def content_security_policy(get_response: Callable[[HttpRequest], Any]) -> Callable[[HttpRequest], Any]:
    if iscoroutinefunction(get_response):
        async def amiddleware(request: HttpRequest) -> HttpResponse:
            return _secure(await get_response(request))

        return amiddleware

    def middleware(request: HttpRequest) -> HttpResponse:
        return _secure(get_response(request))

    return middleware
