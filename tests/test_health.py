"""Probes: /healthz answers while the process lives; /readyz only while the database and the cloud answer."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.conftest import Demo, free_port

pytestmark = pytest.mark.django_db


def test_it_reports_alive_and_ready_and_says_what_is_missing(demo: Demo, client: Client, settings: Any) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "cache": "ok", "cloud": "ok"}
    settings.OPENSTACK = {**settings.OPENSTACK, "auth_url": f"http://127.0.0.1:{free_port()}/identity/v3"}
    down = client.get("/readyz")
    assert down.status_code == 503 and down.json()["checks"]["cloud"].startswith("failed: ConnectionError")
    assert client.get("/healthz").status_code == 200


def test_it_is_not_ready_without_the_cache_table(demo: Demo, client: Client) -> None:
    from django.db import connection

    with connection.cursor() as cursor:  # as a database migrated before the cache table existed
        cursor.execute("DROP TABLE volpanel_cache")
    down = client.get("/readyz")
    assert down.status_code == 503
    assert "run manage.py migrate to create the cache table" in down.json()["checks"]["cache"]


def test_it_asks_keystone_at_most_once_per_ttl_however_often_it_is_probed(demo: Demo, client: Client) -> None:
    import requests

    requests.delete(f"{demo.base}/_demo/requests", timeout=5).raise_for_status()
    assert all(client.get("/readyz").status_code == 200 for _ in range(20))
    assert demo.requests_served().get("GET /identity/v3", 0) <= 1
