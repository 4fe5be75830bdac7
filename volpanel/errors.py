"""The 500 handler: a database that is locked past its timeout or unreachable is a 503 "try again", not a crash."""

from __future__ import annotations

import logging
import sys

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django_htmx.http import reswap, retarget

log = logging.getLogger(__name__)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500. A database that is locked past its timeout or unreachable fails every action before its
    audit row is written, so before the cloud is called: the tenant is told to try again (503). Rendered
    without the request's context: the session and everything else in it live in that database."""
    exc = sys.exc_info()[1]
    if not isinstance(exc, DatabaseError):
        return HttpResponse(render_to_string("volpanel/server_error.html"), status=500)
    log.error("database unavailable on %s %s: %s", request.method, request.path, exc)
    htmx = request.headers.get("HX-Request") == "true"
    match = getattr(request, "resolver_match", None)
    if request.method == "GET":
        retry = request.get_full_path()
    elif match is not None and "volume_id" in match.kwargs:
        retry = reverse("volume_detail", args=[match.kwargs["volume_id"]])
    else:
        retry = reverse("home")
    body = render_to_string("volpanel/unavailable.html", {"fragment": htmx, "retry_url": retry})
    response = HttpResponse(body, status=503)
    response["Retry-After"] = "5"
    if htmx:
        # htmx swaps this 503 (htmx-config in base.html) over the page's main area.
        retarget(response, "#main")
        reswap(response, "innerHTML")
    return response
