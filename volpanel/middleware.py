"""What every request and response gets: a request id (in logs and the X-Request-Id header), one access log
line, the security headers, and the refusal of form bodies in another charset than UTF-8."""

from __future__ import annotations

import codecs
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

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


# Where volpanel's ASGI handler takes what is to be done once the answer is on its way (a list in the request's
# scope): the access line is written then, off the answer's path. Elsewhere (WSGI, the test client) it is written
# at once.
AFTER_ANSWER = "volpanel.after_answer"


def _finish(request: HttpRequest, response: HttpResponse, token: Any, started: float) -> HttpResponse:
    response.headers["X-Request-Id"] = request.request_id  # type: ignore[attr-defined]
    # Who, only when the view already read the session (health checks and static files cost no session load).
    creds = getattr(request, "_volpanel_credentials", None)
    line = functools.partial(
        access_log.info, "%s %s %s", request.method, request.path, response.status_code,
        extra={
            "method": request.method, "path": request.path, "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "streaming": response.streaming,
            "user_id": getattr(creds, "user_id", ""), "project_id": getattr(creds, "project_id", ""),
            "request_id": request.request_id,  # type: ignore[attr-defined]  # wherever the line is written
        },
    )
    after = getattr(request, "scope", {}).get(AFTER_ANSWER)
    if after is None:
        line()
    else:
        after.append(line)
    logs.request_id.reset(token)
    return response


# Both middlewares are sync-only on purpose. WhiteNoise is sync-only, so under ASGI the chain above it runs in a
# thread anyway; were anything below it async-capable, Django would run the request through the rest of the chain
# in async mode, where each of its own middlewares (sessions, CSRF, auth, messages…) hops to a thread and back
# for every hook: a dozen thread switches per request. With the whole chain sync, a request crosses to its thread
# once, and an async view (the status stream) is awaited on the event loop as before.
def request_id(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        token, started = _begin(request)
        return _finish(request, get_response(request), token, started)

    return middleware


def _secure(response: HttpResponse) -> HttpResponse:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # Every answer a view renders is one user's (volumes, audit rows, a form's CSRF token): no browser or proxy
    # may keep it, where the next user of a shared machine could open it from history. Static files (WhiteNoise,
    # outside this middleware) keep their long cache; a view that says otherwise (the stream's no-cache) wins.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def content_security_policy(
        get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        return _secure(get_response(request))

    return middleware


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _declared_charset(request: HttpRequest) -> str:
    """The charset a form body says it is in, by its codec's name ("utf-8" when it says none)."""
    raw = request.content_params.get("charset", "utf-8") if request.content_params else "utf-8"
    try:
        return codecs.lookup(raw).name
    except LookupError:
        return raw.lower()


def form_charset(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """Refuse a form body in any charset but UTF-8 (the only one browsers send a form in) before anything reads it.
    Django raises BadRequest for such a body, but its 400 handler re-runs the CSRF check, which reads the body
    again and turns the 400 into a 500 with a traceback logged at ERROR."""
    def middleware(request: HttpRequest) -> HttpResponse:
        if request.content_type in FORM_TYPES and _declared_charset(request) != "utf-8":
            return _secure(HttpResponseBadRequest(
                "This form was sent in a character set other than UTF-8. Reload the page and send it again.",
                content_type="text/plain; charset=utf-8"))
        return get_response(request)

    return middleware
