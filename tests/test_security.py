"""Tenant isolation, CSRF, cookies and hostile names: every endpoint, every attempt refused or escaped."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client

from tests.conftest import Demo, token_of, web_login
from tests.volumes.test_streams import read_stream
from volpanel.audit.models import AuditEntry
from volpanel.cloud import cloud_config
from volpanel.volumes.actions import BY_NAME as ACTIONS

pytestmark = pytest.mark.django_db(transaction=True)
HOSTILE = '<img src=x onerror=alert(1)>"\'><script>alert(2)</script>'


def test_it_refuses_every_state_change_without_a_csrf_token(demo: Demo) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.post("/login/", {"username": "alice", "password": "demo", "project": "demo"}).status_code == 403
    web_login_with_csrf(client, "alice", "demo")
    vid = demo.volume("data-01")["id"]
    for path in ["/logout/", "/project/", *[f"/volumes/{vid}/{action}/" for action in ACTIONS]]:
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
    for action in ACTIONS:
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


def test_it_keeps_signed_in_pages_out_of_every_cache(demo: Demo, client: Client) -> None:
    """A shared machine's next user must not find the last one's volumes or audit rows in the browser's cache."""
    web_login(client, "admin", "admin")
    vid = demo.volume("data-01")["id"]
    stored = {}
    for path, extra in [("/volumes/", {}), (f"/volumes/{vid}/", {}),
                        (f"/volumes/{vid}/?partial=live", {"HTTP_HX_REQUEST": "true"}), ("/audit/", {}),
                        ("/audit/chart/", {}), ("/audit/export/csv/", {}), ("/django-admin/", {}), ("/login/", {})]:
        stored[path] = client.get(path, **extra).headers.get("Cache-Control")
    stored["POST extend"] = client.post(f"/volumes/{vid}/extend/", {"new_size": "ten"}).headers.get("Cache-Control")
    # (Django's admin sends its own never_cache header, no-store among its words.)
    assert all("no-store" in (value or "").split(", ") for value in stored.values()), stored
    response = client.get(f"/volumes/{vid}/stream/")
    assert response.headers["Cache-Control"] == "no-cache"  # the stream's own (SSE), never stored either
    response.close()


def test_it_renders_hostile_names_as_text(demo: Demo, alice: Any, alice_client: Client) -> None:
    from volpanel.openstack.session import user_session

    sess = user_session(cloud_config(), alice)
    created = sess.post("/volumes", endpoint_filter={"service_type": "block-storage", "interface": "public"},
                        json={"volume": {"size": 1, "name": HOSTILE, "description": HOSTILE}}, raise_exc=False)
    assert created.status_code == 202, created.text
    vid = created.json()["volume"]["id"]
    demo.wait_for(HOSTILE, lambda v: v["status"] == "available")
    for body in (alice_client.get("/volumes/").content.decode(), alice_client.get(f"/volumes/{vid}/").content.decode()):
        assert "<img src=x" not in body and "<script>alert" not in body
        assert "&lt;img src=x onerror=alert(1)&gt;" in body


def test_it_isolates_bidi_names_in_titles_options_and_audit_cells(demo: Demo, alice: Any, alice_client: Client
                                                                  ) -> None:
    """<bdi> cannot go in <title> or <option>: there a name with a bidi override is wrapped in FSI … PDI (a PDI of
    its own that would close ours early is dropped). Audit cells that show tenant text are <bdi>."""
    import re

    from volpanel.audit.models import AuditEntry
    from volpanel.openstack.session import user_session

    bidi, hostile = "evil\u202egnp.exe", "evil\u2069\u202egnp.exe"
    isolated = "\u2068evil\u202egnp.exe\u2069"
    sess = user_session(cloud_config(), alice)
    block = {"service_type": "block-storage", "interface": "public"}
    created = sess.post("/volumes", endpoint_filter=block, json={"volume": {"size": 1, "name": bidi}})
    vid = created.json()["volume"]["id"]
    data01 = demo.volume("data-01")["id"]
    sess.post("/snapshots", endpoint_filter=block, json={"snapshot": {"volume_id": data01, "name": hostile}})
    demo.wait_for(bidi, lambda v: v["status"] == "available")
    # An audit row whose parameters carry the name (Nova refuses format characters in server names, and Cinder
    # does not report an attached host's name back, so neither reaches an <option>).
    attach = {"host_name": hostile, "mountpoint": "/dev/vdb", "mode": "rw"}
    assert alice_client.post(f"/volumes/{vid}/attach_host/", attach).status_code == 302
    demo.wait_for(bidi, lambda v: v["status"] == "in-use")
    for _ in range(100):
        if all(s["status"] == "available" for s in demo.state()["snapshots"].values()):
            break
        time.sleep(0.05)

    page = alice_client.get(f"/volumes/{vid}/").content.decode()
    assert re.search(r"<title>(.*?)</title>", page, re.S)[1] == f"{isolated} · volpanel"  # type: ignore[index]
    page = alice_client.get(f"/volumes/{data01}/").content.decode()
    options = re.findall(r"<option[^>]*>([^<]*)</option>", page)
    assert any(o.startswith(f"{isolated} (20") for o in options), options  # upload_snapshot's choice

    entry = AuditEntry.objects.get(volume_id=vid)
    admin = Client()
    web_login(admin, "admin", "admin")
    detail = admin.get(f"/audit/{entry.uuid}/").content.decode()
    assert f"<td><bdi>{hostile}</bdi></td>" in detail  # the parameters table
    assert f"<bdi>{bidi}</bdi>" in admin.get("/audit/").content.decode()


def test_it_never_lets_the_keystone_token_out_of_the_session(demo: Demo, client: Client, caplog: Any,
                                                             settings: Any) -> None:
    """A whole session — pages, actions accepted, refused and failing, a cloud error page, the audit pages — with
    logging at DEBUG: the token's text is in no response, log record, audit row or audit event."""
    import logging

    from django.core import serializers

    from volpanel.audit.models import AuditEvent
    from volpanel.volumes import watchers

    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    caplog.set_level(logging.DEBUG)  # the root at DEBUG, as VOLPANEL_LOG_LEVEL=DEBUG sets it
    web_login(client, "alice", "demo")
    token = token_of(client)
    assert len(token) >= 16
    vid = demo.volume("data-01")["id"]
    seen: list[bytes] = []

    def visit(method: str, path: str, data: dict[str, str] | None = None, **extra: Any) -> Any:
        response = getattr(client, method)(path, data or {}, **extra)
        seen.append(response.content + str(response.headers).encode() + str(response.cookies).encode())
        return response

    visit("get", "/volumes/")
    visit("get", f"/volumes/{vid}/")
    visit("get", f"/volumes/{vid}/?partial=live", HTTP_HX_REQUEST="true")
    visit("post", f"/volumes/{vid}/extend/", {"new_size": "11"}, HTTP_HX_REQUEST="true")   # accepted
    assert watchers.wait_idle(20)
    visit("post", f"/volumes/{vid}/extend/", {"new_size": "ten"})                          # refused by the form
    demo.faults(http=[{"service": "volume", "method": "POST", "path": "/action", "status": 409, "times": 1}])
    visit("post", f"/volumes/{vid}/extend/", {"new_size": "12"})                           # refused by Cinder
    demo.faults(http=[{"service": "volume", "method": "GET", "path": "/volumes/detail", "status": 500,
                       "times": 1}])
    assert visit("get", "/volumes/").status_code == 502                                    # a cloud error page
    visit("get", "/volumes/00000000-0000-0000-0000-000000000000/")                        # 404 page
    visit("get", "/audit/")                                                                # 403 for a member
    admin = Client()
    web_login(admin, "admin", "admin")
    for path in ("/audit/", "/django-admin/volpanel/auditentry/"):
        response = admin.get(path)
        seen.append(response.content)
    visit("post", "/logout/")

    rows = serializers.serialize("json", [*AuditEntry.objects.all(), *AuditEvent.objects.all()])
    assert AuditEntry.objects.count() == 2  # the accepted extend and the one Cinder refused
    records = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert len(caplog.records) > 10, "logging was captured"
    assert all(token.encode() not in body for body in seen), "token in a response"
    assert token not in records, "token in a log record"
    assert token not in rows, "token in an audit row or event"


def test_it_revokes_the_token_at_logout_and_rotates_the_session_at_login(demo: Demo, client: Client,
                                                                        config: Any) -> None:
    from django.contrib.sessions.models import Session

    from volpanel.openstack.cloud import Cloud
    from volpanel.openstack.errors import CloudError
    from volpanel.openstack.session import Credentials

    planted = client.session  # a session id an attacker could have planted before login
    planted["note"] = "before login"
    planted.save()
    web_login(client, "alice", "demo")
    assert client.cookies["sessionid"].value != planted.session_key
    assert not Session.objects.filter(session_key=planted.session_key).exists()

    creds = Credentials.from_json(client.session["volpanel.credentials"])
    assert Cloud.connect(config, creds).cinder.list_volumes()
    assert client.post("/logout/").status_code == 302
    with pytest.raises(CloudError) as refused:
        Cloud.connect(config, creds).cinder.list_volumes()
    assert refused.value.kind == "auth" and refused.value.status == 401
    assert client.get("/volumes/").status_code == 302


def test_it_marks_cookies_secure_behind_https(demo: Demo, client: Client, settings: Any) -> None:
    import subprocess
    import sys

    from tests.test_settings import ROOT, clean_environment

    shown = "SESSION_COOKIE_SECURE CSRF_COOKIE_SECURE SESSION_COOKIE_HTTPONLY SESSION_COOKIE_SAMESITE".split()
    https = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings as s; "
                               f"print(*[f'{{n}}={{getattr(s, n)}}' for n in {shown!r}])"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**clean_environment(), "DJANGO_SETTINGS_MODULE": "volpanel.settings", "VOLPANEL_HTTPS": "true"})
    assert https.returncode == 0, https.stderr
    flags = dict(item.split("=", 1) for item in https.stdout.split())
    assert flags == {"SESSION_COOKIE_SECURE": "True", "CSRF_COOKIE_SECURE": "True", "SESSION_COOKIE_HTTPONLY": "True",
                     "SESSION_COOKIE_SAMESITE": "Lax"}, flags
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    client.get("/login/", secure=True)
    response = client.post("/login/", {"username": "alice", "password": "demo", "project": "demo"}, secure=True)
    session, csrf = response.cookies["sessionid"], client.cookies["csrftoken"]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"
    assert csrf["secure"]


@pytest.mark.parametrize("charset", ["latin-1", "utf-16", "iso-8859-1", "no-such-charset"])
def test_it_refuses_a_form_in_another_charset_with_400_and_logs_no_error(demo: Demo, charset: str,
                                                                        caplog: Any) -> None:
    """Django's own 400 for such a body re-ran the CSRF check in its error handler, which read the body again:
    500 and a traceback at ERROR, without signing in. Both form encodings, with a real CSRF token."""
    import logging

    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.get("/login/")
    token = client.cookies["csrftoken"].value
    caplog.set_level(logging.INFO)
    urlencoded = f"csrfmiddlewaretoken={token}&username=al%E9&password=demo".encode()
    part = '--XX\r\nContent-Disposition: form-data; name="{}"\r\n\r\n{}\r\n'
    multipart = (part.format("csrfmiddlewaretoken", token) + part.format("username", "al\xe9") + "--XX--\r\n"
                 ).encode("latin-1")
    for content_type, body in [("application/x-www-form-urlencoded", urlencoded),
                               ("multipart/form-data; boundary=XX", multipart)]:
        response = client.generic("POST", "/login/", body, content_type=f"{content_type}; charset={charset}")
        assert response.status_code == 400, (content_type, response.status_code)
        assert b"UTF-8" in response.content and response.headers["Content-Security-Policy"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    # UTF-8, said or not, still signs in.
    for content_type in ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=UTF-8"):
        fresh = Client()
        assert fresh.generic("POST", "/login/", b"username=alice&password=demo&project=demo",
                             content_type=content_type).status_code == 302


def test_it_believes_x_forwarded_for_only_from_the_proxies_the_operator_names(demo: Demo, tmp_path: Any) -> None:
    """Under gunicorn with its uvicorn worker, as in production. By default nobody is a trusted proxy: a client on
    127.0.0.1 (as under `make run`) could name any address for its audit rows and the login throttle. Named, the
    proxy's X-Forwarded-For is believed (its right-most address that is not a trusted proxy)."""
    import sqlite3

    from tests.live_server import Gunicorn, Tenant, server_env

    vid = demo.volume("data-01")["id"]
    seen = {}
    for trusted in ("", "127.0.0.1"):
        db_path = tmp_path / f"volpanel-{trusted or 'none'}.sqlite3"
        app = Gunicorn(server_env(f"sqlite:///{db_path}", VOLPANEL_TRUSTED_PROXIES=trusted), tmp_path / "g.log")
        try:
            tenant = Tenant(app.url)
            size = demo.wait_for("data-01", lambda v: v["status"] == "available")["size"]
            answer = tenant.post(f"/volumes/{vid}/extend/", {"new_size": str(size + 1)},
                                 **{"X-Forwarded-For": "198.51.100.9, 203.0.113.7"})
            assert answer.status_code == 302, answer.text[:300]
        finally:
            app.stop()
        with sqlite3.connect(db_path) as db:
            seen[trusted] = [row[0] for row in db.execute("SELECT source_ip FROM volpanel_auditentry")]
    assert seen == {"": ["127.0.0.1"], "127.0.0.1": ["203.0.113.7"]}, seen
    demo.wait_for("data-01", lambda v: v["status"] == "available")


def test_it_revokes_every_token_a_session_replaces_or_ends_with(demo: Demo, client: Client, config: Any) -> None:
    """A project switch and a second sign-in over the session each replace its token: the old one is revoked at
    once (Keystone and Cinder refuse it); one Keystone could not revoke then is revoked at logout."""
    from volpanel.openstack.cloud import Cloud
    from volpanel.openstack.errors import CloudError
    from volpanel.openstack.session import Credentials

    def held() -> Credentials:
        return Credentials.from_json(client.session["volpanel.credentials"])

    def honoured(creds: Credentials) -> bool:
        try:
            Cloud.connect(config, creds).cinder.list_volumes()
        except CloudError as exc:
            assert exc.kind == "auth" and exc.status == 401, exc
            return False
        return True

    web_login(client, "carol", "demo")
    first = held()
    other_id = next(p["id"] for p in client.session["volpanel.projects"] if p["name"] == "other")
    assert client.post("/project/", {"project_id": other_id}).status_code == 302
    second = held()
    assert (honoured(first), honoured(second)) == (False, True)

    web_login(client, "alice", "demo")  # another user signs in over the same browser session
    third = held()
    assert (honoured(second), honoured(third)) == (False, True)

    # Keystone cannot revoke at the next switch: the replaced token stays good until logout revokes it too.
    web_login(client, "carol", "demo")
    fourth = held()
    assert not honoured(third)
    demo.faults(http=[{"service": "identity", "method": "DELETE", "status": 503, "times": 1}])
    assert client.post("/project/", {"project_id": other_id}).status_code == 302
    fifth = held()
    assert (honoured(fourth), honoured(fifth)) == (True, True)
    assert client.post("/logout/").status_code == 302
    assert (honoured(fourth), honoured(fifth)) == (False, False)

    # Signing in without naming a project takes an unscoped token to the first project: that one is revoked too.
    def revocations() -> int:
        return sum(n for key, n in demo.requests_served().items() if key.startswith("DELETE /identity/v3/auth/tokens"))

    before = revocations()
    web_login(Client(), "alice")
    assert revocations() == before + 1
