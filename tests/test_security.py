"""Tenant isolation, CSRF, cookies and hostile names: every endpoint, every attempt refused or escaped."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.conftest import Demo, web_login
from tests.test_streams import read_stream
from volpanel.forms import FORMS
from volpanel.models import AuditEntry

pytestmark = pytest.mark.django_db(transaction=True)
HOSTILE = '<img src=x onerror=alert(1)>"\'><script>alert(2)</script>'


def test_it_refuses_every_state_change_without_a_csrf_token(demo: Demo) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.post("/login/", {"username": "alice", "password": "demo", "project": "demo"}).status_code == 403
    web_login_with_csrf(client, "alice", "demo")
    vid = demo.volume("data-01")["id"]
    for path in ["/logout/", "/project/", *[f"/volumes/{vid}/{action}/" for action in FORMS]]:
        assert client.post(path, {"new_size": "11"}).status_code == 403, path
    assert not AuditEntry.objects.exists()


def web_login_with_csrf(client: Client, user: str, project: str) -> None:
    client.get("/login/")
    token = client.cookies["csrftoken"].value
    response = client.post("/login/", {"username": user, "password": "demo", "project": project,
                                       "csrfmiddlewaretoken": token})
    assert response.status_code == 302


def test_it_keeps_another_project_s_volume_out_of_every_endpoint(demo: Demo, client: Client) -> None:
    web_login(client, "bob", "other")
    vid = demo.volume("data-01")["id"]  # alice's
    refused: list[tuple[str, int]] = []
    for path in [f"/volumes/{vid}/", *[f"/volumes/{vid}/?partial={p}" for p in ("live", "status", "actions",
                                                                                 "history")]]:
        refused.append((path, client.get(path, HTTP_HX_REQUEST="true").status_code))
    for action in FORMS:
        refused.append((f"POST {action}", client.post(f"/volumes/{vid}/{action}/", {"new_size": "11"}).status_code))
    assert all(code == 404 for _, code in refused), refused
    status, _, events = read_stream(client, f"/volumes/{vid}/stream/")
    assert [name for name, _ in events] == ["gone", "settled"]  # nothing of alice's volume leaks
    assert client.get("/audit/").status_code == 403
    assert demo.volume("data-01")["size"] == 10 and not AuditEntry.objects.exists()


def test_it_sets_safe_session_cookies_and_headers(demo: Demo, client: Client) -> None:
    client.get("/login/")
    response = client.post("/login/", {"username": "alice", "password": "demo", "project": "demo"})
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    page = client.get("/volumes/")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Content-Type-Options"] == "nosniff"


def test_it_renders_hostile_names_as_text(demo: Demo, alice: Any, alice_client: Client) -> None:
    from volpanel import services
    from volpanel.openstack.session import user_session

    sess = user_session(services.cloud_config(), alice)
    created = sess.post("/volumes", endpoint_filter={"service_type": "block-storage", "interface": "public"},
                        json={"volume": {"size": 1, "name": HOSTILE, "description": HOSTILE}}, raise_exc=False)
    assert created.status_code == 202, created.text
    vid = created.json()["volume"]["id"]
    demo.wait_for(HOSTILE, lambda v: v["status"] == "available")
    for body in (alice_client.get("/volumes/").content.decode(), alice_client.get(f"/volumes/{vid}/").content.decode()):
        assert "<img src=x" not in body and "<script>alert" not in body
        assert "&lt;img src=x onerror=alert(1)&gt;" in body
