"""The typed OpenStack clients against the demo cloud over real HTTP."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests import hostile_http as hostile
from tests.conftest import Demo, login
from volpanel.openstack import session
from volpanel.openstack.cloud import Cloud, open_sessions
from volpanel.openstack.errors import CloudError


def test_it_logs_in_and_keeps_the_token_and_catalog_in_its_state(demo: Demo, config) -> None:
    creds = login(config, "alice", "demo")
    assert (creds.user_name, creds.project_name, creds.user_domain) == ("alice", "demo", "Default")
    assert "member" in creds.roles and not creds.is_admin
    state = json.loads(creds.auth_state)
    assert state["auth_token"] and state["body"]["token"]["catalog"]
    assert session.Credentials.from_json(creds.to_json()) == creds

    with pytest.raises(CloudError) as wrong:
        session.login(config, "alice", "not-the-password", "demo", "Default")
    assert wrong.value.kind == "auth" and wrong.value.status == 401

    admin = login(config, "admin", "admin")
    assert admin.is_admin


def test_it_lists_projects_and_rescopes_without_a_password(demo: Demo, config) -> None:
    carol = session.login(config, "carol", "demo", "", "Default")  # no project: lands in her first one
    projects = session.list_projects(config, carol)
    assert [p.name for p in projects] == ["demo", "other"]
    assert carol.project_name == "demo"
    other = session.rescope(config, carol, projects[1].id)
    assert (other.project_name, other.user_name) == ("other", "carol")
    names = {v.name for v in Cloud.connect(config, other).cinder.list_volumes()}
    assert "bob-secret" in names and "data-01" not in names


def test_it_reads_volumes_snapshots_types_limits_and_servers(demo: Demo, alice, config) -> None:
    cloud = Cloud.connect(config, alice)
    versions = cloud.cinder.versions()
    assert versions.min == (3, 0) and versions.max == (3, 71)
    volumes = {v.name: v for v in cloud.cinder.list_volumes()}
    assert {"data-01", "web-root", "archive-gold", "scratch"} <= set(volumes)
    assert "bob-secret" not in volumes
    web_root = volumes["web-root"]
    assert web_root.status == "in-use" and web_root.bootable and web_root.attachments[0].server_id
    assert web_root.attachments[0].attachment_id != web_root.id
    assert volumes["archive-gold"].volume_type == "gold"
    snapshots = cloud.cinder.list_snapshots(volumes["data-01"].id)
    assert [s.name for s in snapshots] == ["data-01-snap-tue", "data-01-snap-mon"]
    assert {t.name for t in cloud.cinder.list_types()} == {"default", "gold"}  # __DEFAULT__ is not offered
    limits = cloud.cinder.get_limits()
    assert limits.max_gigabytes == 100 and limits.gigabytes_left == 100 - limits.used_gigabytes
    assert {s.name for s in cloud.nova.list_servers()} == {"web-1", "db-1"}
    assert cloud.has_service("compute") and cloud.has_service("image")


def test_it_turns_cinder_faults_into_cloud_errors(demo: Demo, alice, bob, config) -> None:
    cloud = Cloud.connect(config, alice)
    data01 = demo.volume("data-01")
    with pytest.raises(CloudError) as same:
        cloud.cinder.extend(data01["id"], data01["size"], in_use=False)
    assert (same.value.status, same.value.fault_name) == (400, "badRequest")
    assert "New size for extend must be greater than current size" in same.value.message
    assert same.value.request_id.startswith("req-")

    with pytest.raises(CloudError) as other:
        cloud.cinder.get_volume(demo.volume("bob-secret")["id"])
    assert (other.value.status, other.value.fault_name) == (404, "itemNotFound")

    with pytest.raises(CloudError) as not_latest:
        snapshots = cloud.cinder.list_snapshots(data01["id"])
        cloud.cinder.revert(data01["id"], snapshots[-1].id)
    assert not_latest.value.status == 400 and "not the latest one" in not_latest.value.message


def test_it_sends_actions_with_their_microversions(demo: Demo, alice, config) -> None:
    cloud = Cloud.connect(config, alice)
    web_root = demo.volume("web-root")
    result = cloud.cinder.extend(web_root["id"], web_root["size"] + 1, in_use=True)
    assert (result.status, result.microversion) == (202, "3.42")
    assert result.request_id.startswith("req-")
    demo.wait_for("web-root", lambda v: v["status"] == "in-use" and v["size"] == web_root["size"] + 1)

    data01 = demo.volume("data-01")
    upload = cloud.cinder.upload_to_image(data01["id"], image_name="img-1", disk_format="qcow2",
                                          container_format="bare", visibility="private", protected=False)
    image_id = upload.body["os-volume_upload_image"]["image_id"]
    assert upload.microversion == "3.1"
    demo.wait_for("data-01", lambda v: v["status"] == "available")
    image = cloud.glance.get_image(image_id)
    assert image is not None and image.name == "img-1"


def test_it_reports_an_unreachable_cloud_as_a_connection_error(demo: Demo, config) -> None:
    from dataclasses import replace

    from tests.conftest import free_port

    dead = replace(config, auth_url=f"http://127.0.0.1:{free_port()}/identity/v3", timeout=2)
    with pytest.raises(CloudError) as err:
        session.login(dead, "alice", "demo", "demo", "Default")
    assert err.value.kind == "connection"


def test_it_reuses_one_session_per_token_until_logout_or_expiry(demo: Demo, config) -> None:
    alice = login(config, "alice", "demo")
    cloud = Cloud.connect(config, alice)
    # Each request rebuilds the credentials from the session store: same token, same Cloud and connections.
    assert Cloud.connect(config, session.Credentials.from_json(alice.to_json())) is cloud
    assert Cloud.connect(config, login(config, "alice", "demo")) is not cloud
    held = open_sessions()
    Cloud.forget(config, alice)
    assert open_sessions() == held - 1
    fresh = Cloud.connect(config, alice)
    assert fresh is not cloud and Cloud.connect(config, alice) is fresh

    demo.config(token_ttl=1)
    short = login(config, "alice", "demo")
    first = Cloud.connect(config, short)
    time.sleep(1.1)
    assert Cloud.connect(config, short) is not first  # an expired token's session is not handed out again


# --- a misbehaving cloud: tests/hostile_http.py serves Cinder ----------------------------------------------
HOSTILE_CASES = {
    "not JSON": (hostile.body(200, "<html><h1>502 Bad Gateway</h1></html>", "text/html"), "malformed"),
    "JSON, wrong key": (hostile.body(200, {"volumen": []}), "malformed"),
    "JSON null": (hostile.body(200, "null"), "malformed"),
    "list, not object": (hostile.body(200, [1, 2, 3]), "malformed"),
    "volumes not a list": (hostile.body(200, {"volumes": 5}), "malformed"),
    "volume not an object": (hostile.body(200, {"volumes": [5]}), "malformed"),
    "volume without status": (hostile.body(200, {"volumes": [{"id": "x", "size": 1}]}), "malformed"),
    "size not a number": (hostile.body(200, {"volumes": [{"id": "x", "status": "available", "size": "big"}]}),
                          "malformed"),
    "attachments not a list": (hostile.body(200, {"volumes": [{"id": "x", "status": "in-use", "size": 1,
                                                               "attachments": 7}]}), "malformed"),
    "truncated JSON": (hostile.body(200, b'{"volumes": [{"id": "x", "sta'), "malformed"),
    "invalid UTF-8": (hostile.body(200, b'{"volumes": "\xff\xfe"}'), "malformed"),
    "500 with an HTML page": (hostile.body(500, "<html>" + "Internal error " * 10000 + "</html>", "text/html"),
                              "fault"),
    "huge, declared": (hostile.declared_huge, "malformed"),
    "huge, chunked": (hostile.endless_chunked, "malformed"),
    "slow drip": (hostile.drip, "timeout"),
    "no answer": (hostile.silent, "timeout"),
}


@pytest.mark.parametrize("case", list(HOSTILE_CASES))
def test_it_survives_a_malformed_cinder_with_one_clear_error_in_bounded_time(demo: Demo, config, case: str) -> None:
    from dataclasses import replace

    behaviour, kind = HOSTILE_CASES[case]
    bounded = replace(config, timeout=1.0, total_timeout=2.0, max_body_bytes=1024 * 1024)
    with hostile.hostile_cinder() as server:
        # Logged in with the usual timeout: a loaded machine may keep Keystone longer than the bounded 1 s.
        cloud = Cloud.connect(bounded, hostile.pointed_at(login(config, "alice", "demo"), server))
        cloud.cinder.versions()  # discovery is well-behaved; what follows is not
        server.behaviour = behaviour
        started = time.monotonic()
        with pytest.raises(CloudError) as err:
            cloud.cinder.list_volumes()
        waited = time.monotonic() - started
        assert any(r.startswith("GET /volume/v3/") and "detail" in r for r in server.requests)
    print(f"\nFIGURES malformed answer {case!r}: {err.value.kind} after {waited:.2f} s — {err.value.first_line}")
    assert err.value.kind == kind and err.value.service == "volume", err.value
    assert len(err.value.message) <= 600 and err.value.first_line
    # The whole answer is bounded by total_timeout, overrun by at most one socket read's timeout.
    assert waited < bounded.total_timeout + bounded.timeout + 1.0, waited
    if case == "500 with an HTML page":
        assert err.value.status == 500 and err.value.request_id == "req-hostile"
        assert err.value.message.startswith("Internal error Internal error") and "<" not in err.value.message
    if case.startswith("huge"):
        assert "too large" in err.value.message


@pytest.mark.parametrize("case", ["huge, declared", "huge, chunked"])
def test_an_action_whose_answer_cannot_be_read_may_have_been_carried_out(demo: Demo, config, case: str) -> None:
    """An answer was coming, so the request had arrived: the audit must say "unknown", not "did not reach"."""
    from dataclasses import replace

    bounded = replace(config, timeout=1.0, total_timeout=2.0, max_body_bytes=1024 * 1024)
    with hostile.hostile_cinder() as server:
        cloud = Cloud.connect(bounded, hostile.pointed_at(login(config, "alice", "demo"), server))
        cloud.cinder.versions()
        server.behaviour = HOSTILE_CASES[case][0]
        with pytest.raises(CloudError) as err:
            cloud.cinder.extend("v", 20, in_use=False)
    assert err.value.kind == "malformed" and err.value.maybe_delivered, err.value


def test_a_nova_attach_said_yes_in_words_volpanel_cannot_read_may_have_been_carried_out(demo: Demo, config) -> None:
    with hostile.hostile_cinder() as server:
        cloud = Cloud.connect(config, hostile.pointed_at(login(config, "alice", "demo"), server, ("compute",)))
        server.behaviour = hostile.body(200, "<html>attached</html>", "text/html")
        with pytest.raises(CloudError) as err:
            cloud.nova.attach_volume("server", "volume")
        assert any(r.startswith("POST ") and "os-volume_attachments" in r for r in server.requests)
    assert err.value.kind == "malformed" and err.value.maybe_delivered, err.value
    # A read's unreadable answer is just an error: nothing was asked to change.
    with hostile.hostile_cinder() as server:
        cloud = Cloud.connect(config, hostile.pointed_at(login(config, "alice", "demo"), server, ("compute",)))
        server.behaviour = hostile.body(200, "<html>servers</html>", "text/html")
        with pytest.raises(CloudError) as err:
            cloud.nova.list_servers()
    assert err.value.kind == "malformed" and not err.value.maybe_delivered


def test_it_turns_malformed_items_of_every_read_into_cloud_errors(demo: Demo, config) -> None:
    answers = {
        "get_volume": {"volume": {"id": "x", "status": "available", "size": None}},
        "list_snapshots": {"snapshots": [{"id": "s", "volume_id": "v"}, "text"]},
        "list_types": {"volume_types": [{"name": "gold"}, 3]},
        "get_limits": {"limits": []},
        "user_messages": {"messages": {"not": "a list"}},
    }
    with hostile.hostile_cinder() as server:
        cloud = Cloud.connect(config, hostile.pointed_at(login(config, "alice", "demo"), server))
        cloud.cinder.versions()
        for method, answer in answers.items():
            server.behaviour = hostile.body(200, answer)
            with pytest.raises(CloudError) as err:
                getattr(cloud.cinder, method)(*(["v"] if method in ("get_volume", "list_snapshots",
                                                                     "user_messages") else []))
            assert err.value.kind == "malformed" and "Cinder" in err.value.message, (method, err.value)


def test_it_reads_glance_s_html_error_pages_as_text(demo: Demo, alice, config) -> None:
    demo.faults(http=[{"service": "image", "status": 503, "times": 1}])
    with pytest.raises(CloudError) as err:
        Cloud.connect(config, alice).glance.get_image("0" * 32)
    assert err.value.status == 503 and err.value.service == "image"
    assert err.value.first_line.startswith("503 Service Unavailable") and "<" not in err.value.message


def test_it_reads_proxies_and_ca_bundles_from_the_environment_once_not_per_request(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name.lower() in ("requests_ca_bundle", "curl_ca_bundle", "netrc"):
            monkeypatch.delenv(name)
    # Nothing in the environment would change a request: the pool does not walk os.environ on every call.
    assert not session.environment_shapes_requests()
    config = session.CloudConfig(auth_url="https://keystone.example/v3")
    assert session._verify(config) is True
    # requests' own CA bundle variable still applies (once per session), unless a bundle is configured.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/bundle.pem")
    assert session._verify(config) == "/etc/ssl/bundle.pem"
    assert session._verify(replace(config, verify="/etc/cloud-ca.pem")) == "/etc/cloud-ca.pem"
    assert session._verify(replace(config, verify=False)) is False
    # A proxy, a no_proxy list or a netrc file: requests reads the environment as usual.
    for setting in ({"HTTPS_PROXY": "http://proxy.example:3128"}, {"no_proxy": "keystone.example"}):
        with monkeypatch.context() as m:
            for name, value in setting.items():
                m.setenv(name, value)
            assert session.environment_shapes_requests()
    (tmp_path / ".netrc").write_text("machine keystone.example login x password y\n")
    assert session.environment_shapes_requests()


def test_the_process_s_pool_sends_what_requests_would_and_keeps_no_cookie_of_anyone_s() -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import requests

    seen: list[tuple[str, str, dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                         self.rfile.read(length)))
            self.send_response(200)
            self.send_header("Set-Cookie", "SERVERID=backend-1; Path=/")  # a load balancer's sticky cookie
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v3/p1/volumes/detail"
    try:
        pool = session.PoolSession()
        pool.trust_env = False
        stock = requests.Session()
        stock.trust_env = False
        calls = [dict(method="GET", url=url, params={"limit": "5"},
                      headers={"X-Auth-Token": "t", "OpenStack-API-Version": "volume 3.71",
                               "accept": "application/json", "Accept-Encoding": None}),
                 dict(method="post", url=url + "/x/action", data=b'{"os-extend": {"new_size": 2}}',
                      headers={"Content-Type": "application/json", "User-Agent": "volpanel keystoneauth1/5.18.1"})]
        for call in calls:
            for client in (requests.Session(), pool):  # a stock session with no cookie yet
                client.trust_env = False
                answer = client.request(timeout=5, allow_redirects=False, **call)  # type: ignore[arg-type]
                assert answer.status_code == 200 and answer.json() == {}
            assert seen[-1] == seen[-2]  # the same request line, headers and body on the wire
        # A header set to None is left out, as requests leaves it (http.client then says identity).
        assert seen[0][1] == "/v3/p1/volumes/detail?limit=5" and seen[0][2]["accept-encoding"] == "identity"
        # requests' own Session keeps the cookie and sends it on (to the next user, on a shared pool); this one
        # keeps none.
        stock.get(url, timeout=5)
        assert "SERVERID" in stock.cookies and not pool.cookies
        stock.get(url, timeout=5)
        pool.get(url, timeout=5)
        assert "cookie" in seen[-2][2] and "cookie" not in seen[-1][2]
    finally:
        server.shutdown()
