"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import threading

import requests
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from volpanel.lib.memo import Memo

PROBE_TIMEOUT = 3.0
# The endpoint needs no login, so anyone may call it: Keystone is asked at most once per CLOUD_CHECK_TTL seconds
# per process, however often probes (or anyone else) ask, and one probe at a time.
CLOUD_CHECK_TTL = 2.0
_cloud_lock = threading.Lock()
_cloud_last: Memo[str, str] = Memo("health.cloud_check", CLOUD_CHECK_TTL, size=1)  # what Keystone's URL said


def _cloud_check(auth_url: str) -> str:
    with _cloud_lock:
        last = _cloud_last.get(auth_url)
        if last is not None:
            return last
        try:
            # Keystone's version document needs no token: the cheapest proof the cloud is reachable.
            answer = requests.get(auth_url, timeout=PROBE_TIMEOUT, verify=settings.OPENSTACK["verify"])
            result = "ok" if answer.status_code < 500 else f"failed: HTTP {answer.status_code}"
        except requests.RequestException as exc:
            result = f"failed: {type(exc).__name__}"
        _cloud_last.put(auth_url, result)
        return result


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers: nothing else is asked."""
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to serve tenants: the database, the shared cache and the cloud's Keystone answer."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except DatabaseError as exc:
        checks["database"] = f"failed: {type(exc).__name__}"
    try:
        # The login throttle counts in the cache; with the database cache its table comes from `migrate`, and a
        # deployment upgraded without it would refuse every login.
        cache.get("volpanel:readyz")
        checks["cache"] = "ok"
    except Exception as exc:  # any backend's failure (a missing table, Redis down) is the same answer here
        checks["cache"] = f"failed: {type(exc).__name__} (run manage.py migrate to create the cache table)"
    checks["cloud"] = _cloud_check(settings.OPENSTACK["auth_url"])
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)
