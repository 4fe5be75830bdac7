"""The demo cloud over real HTTP, checked against the responses captured from a real Cinder
(../shared/cinder/captures/): status codes, fault names and wording, headers, status sequences, isolation."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.democloud_helpers import Client, DemoCloud, fault, seed_hex, seed_uuid, watch

DEMO = seed_hex("project", "demo")
OTHER = seed_hex("project", "other")
DATA01 = seed_uuid("volume", "data-01")
WEB_ROOT = seed_uuid("volume", "web-root")
ARCHIVE = seed_uuid("volume", "archive-gold")
SCRATCH = seed_uuid("volume", "scratch")
BOB_SECRET = seed_uuid("volume", "bob-secret")
SNAP_MON = seed_uuid("snapshot", "data-01-snap-mon")
SNAP_TUE = seed_uuid("snapshot", "data-01-snap-tue")
WEB1 = seed_uuid("server", "web-1")
DB1 = seed_uuid("server", "db-1")
BOB_VM = seed_uuid("server", "bob-vm")
GOLD = seed_uuid("volume_type", "gold")
UNAUTHORIZED = {"error": {"code": 401, "title": "Unauthorized",
                          "message": "The request you have made requires authentication."}}
REQ_ID = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def cloud() -> Iterator[DemoCloud]:
    demo = DemoCloud("--delay", "0.2")
    yield demo
    demo.stop()


@pytest.fixture(autouse=True)
def fresh(cloud: DemoCloud) -> None:
    cloud.control("POST", "reset")
    cloud.control("POST", "config", {"delay": 0.2, "token_ttl": 3600, "snapshot_upload": True, "without": []})


@pytest.fixture
def alice(cloud: DemoCloud) -> Client:
    return cloud.login("alice", "demo")


@pytest.fixture
def admin(cloud: DemoCloud) -> Client:
    return cloud.login("admin", "admin")


def status_of(client: Client, volume_id: str) -> Any:
    return lambda: client.volume(volume_id)["status"]


def settle(client: Client, volume_id: str, final: str) -> list[str]:
    return watch(status_of(client, volume_id), lambda s: s == final)


# ---- startup, discovery, identity ------------------------------------------------------------------------
def test_it_prints_openstack_env_and_serves_version_documents(cloud: DemoCloud, alice: Client) -> None:
    assert cloud.banner[0] == f"export OS_AUTH_URL={cloud.url}/identity/v3"
    assert "export OS_USERNAME=alice" in cloud.banner and "export OS_PROJECT_NAME=demo" in cloud.banner
    assert "export OS_IDENTITY_API_VERSION=3" in cloud.banner
    root = requests.get(f"{cloud.url}/volume/", timeout=5)
    assert root.status_code == 300 and root.headers["OpenStack-API-Version"] == "volume 3.0"
    version = root.json()["versions"][0]
    assert (version["id"], version["version"], version["min_version"]) == ("v3.0", "3.71", "3.0")
    assert version["links"][1] == {"rel": "self", "href": f"{cloud.url}/volume/v3/"}
    no_token = requests.get(f"{cloud.url}/volume/v3/", timeout=5)
    assert no_token.status_code == 401 and no_token.json() == UNAUTHORIZED
    assert "OpenStack-API-Version" not in no_token.headers
    assert no_token.headers["WWW-Authenticate"] == f'Keystone uri="{cloud.url}/identity"'
    with_token = alice.request("GET", f"{cloud.url}/volume/v3/")
    assert with_token.status_code == 200 and with_token.json() == root.json()
    identity = requests.get(f"{cloud.url}/identity", timeout=5)
    assert identity.status_code == 300 and identity.json()["versions"]["values"][0]["id"] == "v3.14"
    assert requests.get(f"{cloud.url}/identity/v3", timeout=5).json()["version"]["status"] == "stable"
    compute = requests.get(f"{cloud.url}/compute/", timeout=5).json()["versions"]
    assert [v["id"] for v in compute] == ["v2.0", "v2.1"] and compute[1]["min_version"] == "2.1"
    assert requests.get(f"{cloud.url}/image/", timeout=5).status_code == 300
    unknown = f"{cloud.url}/volume/v3/{DEMO}/backups"
    assert requests.get(unknown, timeout=5).status_code == 401  # keystonemiddleware answers before routing
    missing = alice.request("GET", unknown, headers={"OpenStack-API-Version": "volume 3.50"})
    assert fault(missing) == ("itemNotFound", 404, "The resource could not be found.")
    assert missing.headers["OpenStack-API-Version"] == "volume 3.50"


def test_it_issues_validates_and_revokes_scoped_tokens(cloud: DemoCloud) -> None:
    url = f"{cloud.url}/identity/v3/auth/tokens"
    resp = requests.post(url, json=cloud.auth_body("alice", "demo"), timeout=5)
    assert resp.status_code == 201 and REQ_ID.match(resp.headers["x-openstack-request-id"])
    token, body = resp.headers["X-Subject-Token"], resp.json()["token"]
    assert body["user"]["id"] == seed_hex("user", "alice") and body["user"]["domain"]["name"] == "Default"
    assert body["project"] == {"domain": {"id": "default", "name": "Default"}, "id": DEMO, "name": "demo"}
    assert [r["name"] for r in body["roles"]] == ["member", "reader"] and body["methods"] == ["password"]
    assert body["expires_at"].endswith("Z") and body["issued_at"] < body["expires_at"]
    types = {e["type"]: e for e in body["catalog"]}
    assert set(types) == {"identity", "volumev3", "block-storage", "compute", "image"}
    volume_urls = {e["url"] for e in types["block-storage"]["endpoints"]}
    assert volume_urls == {f"{cloud.url}/volume/v3/{DEMO}"}
    assert {e["interface"] for e in types["compute"]["endpoints"]} == {"public", "internal", "admin"}

    validated = requests.get(url, headers={"X-Auth-Token": token, "X-Subject-Token": token}, timeout=5)
    assert validated.status_code == 200 and validated.headers["X-Subject-Token"] == token
    assert validated.json()["token"]["project"]["id"] == DEMO

    wrong = requests.post(url, json=cloud.auth_body("alice", "demo", password="nope"), timeout=5)
    assert wrong.status_code == 401 and wrong.json() == UNAUTHORIZED
    not_member = requests.post(url, json=cloud.auth_body("alice", "other"), timeout=5)
    assert not_member.status_code == 401

    unscoped = requests.post(url, json=cloud.auth_body("carol", None), timeout=5)
    assert unscoped.status_code == 201 and "catalog" not in unscoped.json()["token"]
    carol_token = unscoped.headers["X-Subject-Token"]
    projects = requests.get(f"{cloud.url}/identity/v3/auth/projects", headers={"X-Auth-Token": carol_token},
                            timeout=5).json()["projects"]
    assert sorted(p["name"] for p in projects) == ["demo", "other"]
    mine = requests.get(f"{cloud.url}/identity/v3/users/{seed_hex('user', 'carol')}/projects",
                        headers={"X-Auth-Token": carol_token}, timeout=5)
    assert mine.status_code == 200 and len(mine.json()["projects"]) == 2
    rescoped = requests.post(url, json={"auth": {"identity": {"methods": ["token"], "token": {"id": carol_token}},
                                                 "scope": {"project": {"id": OTHER}}}}, timeout=5)
    assert rescoped.status_code == 201 and rescoped.json()["token"]["project"]["name"] == "other"
    by_id = requests.post(url, json={"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "id": seed_hex("user", "bob"), "password": "demo"}}}, "scope": {"project": {"id": OTHER}}}}, timeout=5)
    assert by_id.status_code == 201

    revoked = requests.delete(url, headers={"X-Auth-Token": token, "X-Subject-Token": token}, timeout=5)
    assert revoked.status_code == 204
    after = requests.get(f"{cloud.url}/volume/v3/{DEMO}/volumes", headers={"X-Auth-Token": token}, timeout=5)
    assert after.status_code == 401 and after.json() == UNAUTHORIZED


def test_it_works_with_keystoneauth_discovery(cloud: DemoCloud) -> None:
    from keystoneauth1 import session as ks_session
    from keystoneauth1.identity import v3

    auth = v3.Password(auth_url=f"{cloud.url}/identity/v3", username="alice", password="demo",
                       project_name="demo", user_domain_name="Default", project_domain_name="Default")
    sess = ks_session.Session(auth=auth)
    for service_type in ("volumev3", "block-storage"):
        assert sess.get_endpoint(service_type=service_type, interface="public") == f"{cloud.url}/volume/v3/{DEMO}"
    data = sess.get_endpoint_data(service_type="block-storage", interface="public")
    assert data.min_microversion == (3, 0) and data.max_microversion == (3, 71)
    resp = sess.get("/volumes/detail", endpoint_filter={"service_type": "block-storage", "interface": "public"},
                    microversion="3.63")
    assert resp.headers["OpenStack-API-Version"] == "volume 3.63"
    assert {v["name"] for v in resp.json()["volumes"]} == {"data-01", "web-root", "archive-gold", "scratch"}
    assert sess.get_endpoint(service_type="compute", interface="public") == f"{cloud.url}/compute/v2.1"


def test_it_adds_load_test_tenants_each_in_its_own_project(cloud: DemoCloud) -> None:
    try:
        assert cloud.control("POST", "config", {"tenants": 2})["tenants"] == 2
        t2 = cloud.login("tenant02", "tenant02")
        assert [v["name"] for v in t2.vol("GET", "/volumes").json()["volumes"]] == ["tenant02-data"]
        assert t2.project_id == seed_hex("project", "tenant02")
        volume = t2.volume(seed_uuid("volume", "tenant02-data"))
        assert (volume["status"], volume["size"], volume["volume_type"]) == ("available", 1, "default")
        alice = cloud.login()
        assert "tenant01-data" not in {v["name"] for v in alice.vol("GET", "/volumes").json()["volumes"]}
        assert cloud.http.post(f"{cloud.url}/_demo/config", json={"tenants": 100}, timeout=5).status_code == 400
    finally:
        cloud.control("POST", "config", {"tenants": 0})
    refused = cloud.http.post(f"{cloud.url}/identity/v3/auth/tokens", json=cloud.auth_body("tenant01", "tenant01"),
                              timeout=5)
    assert refused.status_code == 401


def test_it_expires_tokens_after_token_ttl(cloud: DemoCloud) -> None:
    cloud.control("POST", "config", {"token_ttl": 1})
    alice = cloud.login()
    assert alice.vol("GET", "/volumes").status_code == 200
    time.sleep(1.1)
    expired = alice.vol("GET", "/volumes")
    assert expired.status_code == 401 and expired.json() == UNAUTHORIZED
    invalid = alice.request("GET", alice.volume_url + "/volumes", headers={"X-Auth-Token": "not-a-token"})
    assert invalid.status_code == 401


# ---- Cinder reads ------------------------------------------------------------------------------------------
def test_it_echoes_microversions_and_rejects_bad_ones(alice: Client) -> None:
    plain = alice.vol("GET", "/volumes")
    assert plain.headers["OpenStack-API-Version"] == "volume 3.0" and plain.headers["Vary"] == "OpenStack-API-Version"
    assert REQ_ID.match(plain.headers["x-openstack-request-id"])
    assert plain.headers["X-Openstack-Request-Id"] == plain.headers["X-Compute-Request-Id"]
    assert alice.vol("GET", "/volumes", mv="latest").headers["OpenStack-API-Version"] == "volume 3.71"
    unsupported = alice.action(SCRATCH, {"os-extend": {"new_size": 2}}, mv="3.999")  # capture 66
    assert unsupported.status_code == 406 and unsupported.headers["OpenStack-API-Version"] == "volume 3.999"
    assert fault(unsupported) == ("computeFault", 406, "Version 3.999 is not supported by the API. Minimum is 3.0 "
                                                       "and maximum is 3.71.")
    malformed = alice.action(SCRATCH, {"os-extend": {"new_size": 2}}, mv="three")  # capture 67
    assert malformed.status_code == 400 and "OpenStack-API-Version" not in malformed.headers
    assert fault(malformed)[2] == "API Version String three is of invalid format. Must be of format MajorNum.MinorNum."
    assert alice.volume(SCRATCH)["status"] == "available"


def test_it_renders_volumes_like_the_captures(alice: Client, admin: Client) -> None:
    v30 = alice.volume(WEB_ROOT)  # capture 17's keys and order; web-root was made from an image (capture 126)
    assert list(v30) == ["id", "status", "size", "availability_zone", "created_at", "updated_at", "name",
                         "description", "volume_type", "snapshot_id", "source_volid", "metadata", "links",
                         "user_id", "bootable", "encrypted", "replication_status", "consistencygroup_id",
                         "multiattach", "attachments", "os-vol-tenant-attr:tenant_id", "volume_image_metadata"]
    assert "volume_image_metadata" not in alice.volume(SCRATCH)  # only a volume that has some shows it
    assert (v30["status"], v30["size"], v30["bootable"], v30["volume_type"]) == ("in-use", 20, "true", "default")
    assert v30["metadata"] == {"readonly": "False", "attached_mode": "rw"}
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000000$", v30["created_at"])
    [att] = v30["attachments"]
    assert att == {"id": WEB_ROOT, "attachment_id": seed_uuid("attachment", "web-root@web-1"),
                   "volume_id": WEB_ROOT, "server_id": WEB1, "host_name": None,
                   "device": "/dev/vdb", "attached_at": att["attached_at"]}
    latest = alice.volume(WEB_ROOT, mv="latest")  # capture 18
    assert list(latest)[20:] == ["group_id", "shared_targets", "service_uuid", "volume_type_id", "consumes_quota",
                                 "os-vol-tenant-attr:tenant_id", "volume_image_metadata"]
    assert latest["volume_type_id"] == seed_uuid("volume_type", "default")
    as_admin = admin.volume(WEB_ROOT, mv="latest")  # capture 19: admin-only fields, links in admin's project
    assert as_admin["os-vol-host-attr:host"] and "migration_status" in as_admin and "cluster_name" in as_admin
    assert seed_hex("project", "admin") in as_admin["links"][0]["href"]
    assert "os-vol-host-attr:host" not in latest

    summary = alice.vol("GET", "/volumes").json()["volumes"]
    assert [v["name"] for v in summary] == ["scratch", "archive-gold", "web-root", "data-01"]  # newest first
    assert set(summary[0]) == {"id", "links", "name"}
    assert [v["id"] for v in alice.vol("GET", "/volumes/detail", params={"limit": "2"}).json()["volumes"]] == \
        [SCRATCH, ARCHIVE]
    everyone = admin.vol("GET", "/volumes/detail", params={"all_tenants": "1"}).json()["volumes"]
    assert BOB_SECRET in {v["id"] for v in everyone}
    own = admin.vol("GET", "/volumes/detail").json()["volumes"]
    assert own == []


def test_it_isolates_tenants(cloud: DemoCloud, alice: Client, admin: Client) -> None:
    bob = cloud.login("bob", "other")
    for resp in (alice.vol("GET", f"/volumes/{BOB_SECRET}"),  # capture 60
                 alice.action(BOB_SECRET, {"os-extend": {"new_size": 2}})):  # capture 59
        assert resp.status_code == 404
        assert fault(resp) == ("itemNotFound", 404, f"Volume {BOB_SECRET} could not be found.")
    wrong_url = alice.request("POST", f"{cloud.url}/volume/v3/{OTHER}/volumes/{BOB_SECRET}/action",
                              json={"os-extend": {"new_size": 2}})  # capture 61
    assert wrong_url.status_code == 400 and fault(wrong_url)[2] == "Malformed request url"
    assert [v["name"] for v in bob.vol("GET", "/volumes/detail").json()["volumes"]] == ["bob-secret"]
    assert bob.compute("GET", f"/servers/{WEB1}").status_code == 404
    assert [s["name"] for s in bob.compute("GET", "/servers").json()["servers"]] == ["bob-vm"]
    assert fault(alice.vol("GET", "/volumes/nope")) == ("itemNotFound", 404, "Volume nope could not be found.")
    assert admin.volume(BOB_SECRET)["name"] == "bob-secret"
    assert alice.vol("GET", f"/os-quota-sets/{OTHER}").status_code == 403


def test_it_lists_types_limits_and_quotas(alice: Client, admin: Client) -> None:
    types = alice.vol("GET", "/types").json()["volume_types"]  # capture 05
    assert [t["name"] for t in types] == ["gold", "default", "__DEFAULT__"]
    assert all(t["extra_specs"] == {} and t["os-volume-type-access:is_public"] for t in types)
    admin_gold = admin.vol("GET", "/types").json()["volume_types"][0]  # capture 06
    assert admin_gold["extra_specs"] == {"volume_backend_name": "lvm"} and admin_gold["qos_specs_id"] is None
    default = alice.vol("GET", "/types/default", mv="3.62")  # capture 07
    assert default.json()["volume_type"]["name"] == "default" and default.headers["OpenStack-API-Version"] == \
        "volume 3.62"
    assert alice.vol("GET", f"/types/{GOLD}").json()["volume_type"]["name"] == "gold"
    absolute = alice.vol("GET", "/limits").json()["limits"]["absolute"]  # capture 04, with usage
    assert absolute["maxTotalVolumeGigabytes"] == 100 and absolute["totalVolumesUsed"] == 4
    assert absolute["totalGigabytesUsed"] == 10 + 20 + 5 + 1 + 2 * 10 and absolute["totalSnapshotsUsed"] == 2
    quota = alice.vol("GET", f"/os-quota-sets/{DEMO}", mv="3.0").json()["quota_set"]  # capture 08
    assert quota["gigabytes"] == 100 and quota["id"] == DEMO and quota["volumes___DEFAULT__"] == -1
    usage = alice.vol("GET", f"/os-quota-sets/{DEMO}", params={"usage": "true"}).json()["quota_set"]
    assert usage["gigabytes"] == {"limit": 100, "in_use": 56, "reserved": 0}


# ---- Cinder actions ----------------------------------------------------------------------------------------
BAD_BODIES = [  # captures 47-58, 11, 12, 26, 27, 46
    ('{"os-extend": {"new_size": 3', None, 400, "badRequest", "Malformed request body"),
    ("", None, 400, "badRequest", "There is no such action: None. Verify the request body and Content-Type "
                                  "header and try again."),
    ({"os-frobnicate": {}}, None, 400, "badRequest", "There is no such action: os-frobnicate. Verify the "
                                                     "request body and Content-Type header and try again."),
    ({"os-extend": {}}, None, 400, "badRequest", "Invalid input for field/attribute os-extend. Value: {}. "
                                                 "'new_size' is a required property"),
    ({"os-extend": {"new_size": "abc"}}, None, 400, "badRequest",
     "Invalid input for field/attribute new_size. Value: abc. 'abc' does not match '^[0-9]+$'"),
    ({"os-extend": {"new_size": 5.5}}, None, 400, "badRequest",
     "Invalid input for field/attribute new_size. Value: 5.5. 5.5 is not of type 'integer', 'string'"),
    ({"os-extend": {"new_size": 9, "foo": 1}}, None, 400, "badRequest",
     "Invalid input for field/attribute os-extend. Value: {'new_size': 9, 'foo': 1}. Additional properties are "
     "not allowed ('foo' was unexpected)"),
    ({"os-extend": 5}, None, 400, "badRequest",
     "Invalid input for field/attribute os-extend. Value: 5. 5 is not of type 'object'"),
    ({"os-extend": {"new_size": 9}, "os-retype": {"new_type": "gold"}}, None, 400, "badRequest",
     "Malformed request body"),
    ({"os-retype": {}}, None, 400, "badRequest",
     "Invalid input for field/attribute os-retype. Value: {}. 'new_type' is a required property"),
    ({"os-attach": {"instance_uuid": "not-a-uuid", "mountpoint": "/dev/vdb"}}, None, 400, "badRequest",
     "Invalid input for field/attribute instance_uuid. Value: not-a-uuid. 'not-a-uuid' is not a 'uuid'"),
    ({"os-attach": {"mountpoint": "/dev/vdb"}}, None, 400, "badRequest",
     "Invalid input for field/attribute os-attach. Value: {'mountpoint': '/dev/vdb'}. {'mountpoint': "
     "'/dev/vdb'} is not valid under any of the given schemas"),
    ({"os-extend": {"new_size": 1}}, None, 400, "badRequest", "Invalid input received: New size for extend must "
                                                              "be greater than current size. (current: 1, "
                                                              "extended: 1)."),
    ({"os-extend": {"new_size": 0}}, None, 400, "badRequest",
     "Invalid input for field/attribute new_size. Value: 0. 0 is less than the minimum of 1"),
    ({"os-retype": {"new_type": "default"}}, None, 400, "badRequest",
     "Invalid volume: Retype needs volume to be in available or in-use state, not be part of an active migration "
     "or a consistency group, requested type has to be different that the one from the volume, and for in-use "
     "volumes front-end qos specs cannot change."),
    ({"os-retype": {"new_type": "platinum", "migration_policy": "never"}}, None, 404, "itemNotFound",
     "Volume type with name platinum could not be found."),
    ({"os-retype": {"new_type": "gold", "migration_policy": "sometimes"}}, None, 400, "badRequest",
     "Invalid input for field/attribute migration_policy. Value: sometimes. 'sometimes' is not one of "
     "['on-demand', 'never']"),
    ({"os-volume_upload_image": {"image_name": ""}}, None, 400, "badRequest",
     "Invalid input for field/attribute image_name. Value: . '' should be non-empty"),
    ({"os-volume_upload_image": {"image_name": "x", "disk_format": "iso"}}, None, 400, "badRequest",
     "Invalid input for field/attribute disk_format. Value: iso. 'iso' is not one of ['raw', 'vmdk', 'vdi', "
     "'qcow2', 'vhd', 'vhdx', 'ploop']"),
    ({"os-volume_upload_image": {"image_name": "x", "force": "maybe"}}, None, 400, "badRequest",
     "Invalid input for field/attribute force. Value: maybe. 'maybe' is not one of [True, 'True', 'TRUE', "
     "'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', 'y', 't', False, 'False', 'FALSE', 'false', '0', "
     "'OFF', 'Off', 'off', 'NO', 'No', 'no', 'n', 'f']"),
    ({"os-volume_upload_image": {"image_name": "x", "visibility": "public"}}, None, 400, "badRequest",
     "Invalid input for field/attribute os-volume_upload_image. Value: {'image_name': 'x', 'visibility': "
     "'public'}. Additional properties are not allowed ('visibility' was unexpected)"),
    ({"os-volume_upload_image": {"image_name": "x", "visibility": "public"}}, "3.1", 403, "forbidden",
     "Policy doesn't allow volume_extension:volume_actions:upload_public to be performed."),
    ({"revert": {"snapshot_id": SNAP_TUE}}, None, 404, "itemNotFound", "The resource could not be found."),
    ({"revert": {"snapshot_id": SNAP_TUE}}, "3.39", 404, "itemNotFound", "The resource could not be found."),
    ({"revert": {"snapshot_id": SNAP_TUE}}, "3.40", 400, "badRequest",
     f"Volume {SCRATCH} doesn't have any snapshots."),
    ({"os-reset_status": {"status": "available"}}, None, 403, "forbidden",
     "Policy doesn't allow volume_extension:volume_admin_actions:reset_status to be performed."),
]


@pytest.mark.parametrize(("body", "mv", "status", "name", "message"), BAD_BODIES)
def test_it_answers_bad_action_requests_like_the_captures(alice: Client, body: Any, mv: str | None, status: int,
                                                          name: str, message: str) -> None:
    data = body if isinstance(body, str) else json.dumps(body)
    resp = alice.vol("POST", f"/volumes/{SCRATCH}/action", data=data, mv=mv,
                     headers={"Content-Type": "application/json"})
    assert resp.status_code == status
    assert fault(resp) == (name, status, message)
    assert resp.headers["OpenStack-API-Version"] == f"volume {mv or '3.0'}"
    assert alice.volume(SCRATCH)["status"] == "available"


def test_it_extends_available_and_in_use_volumes(alice: Client) -> None:
    resp = alice.action(SCRATCH, {"os-extend": {"new_size": 2}})  # capture 10
    assert resp.status_code == 202 and resp.content == b""
    assert settle(alice, SCRATCH, "available") == ["extending", "available"]
    assert alice.volume(SCRATCH)["size"] == 2
    assert alice.action(SCRATCH, {"os-extend": {"new_size": "4"}}).status_code == 202  # capture 52
    settle(alice, SCRATCH, "available")
    assert alice.volume(SCRATCH)["size"] == 4
    smaller = alice.action(SCRATCH, {"os-extend": {"new_size": 3}})  # capture 12
    assert fault(smaller)[2].endswith("(current: 4, extended: 3).")

    for mv in (None, "3.41"):  # captures 22, 23
        refused = alice.action(WEB_ROOT, {"os-extend": {"new_size": 21}}, mv=mv)
        assert refused.status_code == 400
        assert fault(refused)[2] == (f"Invalid volume: Volume {WEB_ROOT} status must be '{{'status': "
                                     "'available'}' to extend, currently in-use.")
    ok = alice.action(WEB_ROOT, {"os-extend": {"new_size": 21}}, mv="3.42")  # capture 24
    assert ok.status_code == 202 and ok.headers["OpenStack-API-Version"] == "volume 3.42"
    assert settle(alice, WEB_ROOT, "in-use") == ["extending", "in-use"]
    assert alice.volume(WEB_ROOT)["size"] == 21

    def nova_actions() -> list[dict[str, Any]]:
        return alice.compute("GET", f"/servers/{WEB1}/os-instance-actions").json()["instanceActions"]
    # Nova records extend_volume after Cinder shows in-use again (half the delay later), as real Nova does.
    deadline = time.monotonic() + 5
    while len(nova_actions()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    actions = nova_actions()
    assert [a["action"] for a in actions] == ["extend_volume", "attach_volume", "create"]
    assert actions[0]["message"] is None and REQ_ID.match(actions[0]["request_id"]) and actions[0]["start_time"]


def test_it_enforces_the_gigabytes_quota_on_extend(alice: Client) -> None:
    resp = alice.action(SCRATCH, {"os-extend": {"new_size": 5000}})  # capture 68
    assert resp.status_code == 413 and resp.headers["Retry-After"] == "0"
    assert resp.json() == {"overLimit": {
        "code": 413, "retryAfter": "0",
        "message": "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes "
                   "quota. Requested 4999G, quota is 100G and 56G has been consumed."}}
    assert alice.action(SCRATCH, {"os-extend": {"new_size": 45}}).status_code == 202  # exactly fills 100


def test_it_attaches_and_detaches_through_cinder_bookkeeping(alice: Client) -> None:
    server = "8fba3a64-ba16-4d2d-ae8a-18a98b11c3a1"
    assert alice.action(SCRATCH, {"os-attach": {"instance_uuid": server, "mountpoint": "/dev/vdb"}}).status_code \
        == 202  # capture 13: finished before the answer
    vol = alice.volume(SCRATCH)
    assert vol["status"] == "in-use" and vol["metadata"] == {"readonly": "False", "attached_mode": "rw"}
    [att] = vol["attachments"]
    assert (att["server_id"], att["host_name"], att["device"]) == (server, None, "/dev/vdb")
    again = alice.action(SCRATCH, {"os-attach": {"instance_uuid": server, "mountpoint": "/dev/vdd"}})  # 15
    assert again.status_code == 400
    first, _, rest = fault(again)[2].partition("\n")
    assert first == "Invalid volume: volume is already attached and multiple attachments are not enabled"
    assert rest.startswith("Traceback (most recent call last):")
    assert alice.action(SCRATCH, {"os-detach": {"attachment_id": att["attachment_id"]}}).status_code == 202  # 32
    detached = alice.volume(SCRATCH)
    assert detached["status"] == "available" and detached["attachments"] == []
    assert detached["metadata"] == {"readonly": "False"}
    for unknown in (att["attachment_id"], "3fa38c0e-2fa7-4244-aba7-bdf63a609ee7"):  # captures 34, 31
        conflict = alice.action(SCRATCH, {"os-detach": {"attachment_id": unknown}})
        assert conflict.status_code == 409
        assert fault(conflict) == ("conflictingRequest", 409, "ConflictNovaUsingAttachment: Detach volume from "
                                                              "instance  using the Compute API")
    assert alice.action(DATA01, {"os-attach": {"host_name": "dashboard-host", "mountpoint": "/dev/vdc"}}) \
        .status_code == 202  # capture 14
    assert alice.action(DATA01, {"os-detach": {}}).status_code == 202  # capture 33
    assert alice.volume(DATA01)["status"] == "available"


def test_it_refuses_a_tenant_detach_of_a_nova_attachment(alice: Client) -> None:
    attachment_id = alice.volume(WEB_ROOT)["attachments"][0]["attachment_id"]
    for body in ({"os-detach": {"attachment_id": attachment_id}}, {"os-detach": {}}, {"os-detach": None}):
        resp = alice.action(WEB_ROOT, body)
        assert resp.status_code == 409
        assert fault(resp)[2] == f"ConflictNovaUsingAttachment: Detach volume from instance {WEB1} using the " \
                                 "Compute API"
    assert alice.volume(WEB_ROOT)["status"] == "in-use"


def test_it_attaches_and_detaches_through_nova(alice: Client) -> None:
    resp = alice.compute("POST", f"/servers/{DB1}/os-volume_attachments",
                         json={"volumeAttachment": {"volumeId": SCRATCH}})
    assert resp.status_code == 200 and resp.headers["OpenStack-API-Version"] == "compute 2.1"
    assert resp.json() == {"volumeAttachment": {"device": "/dev/vdb", "serverId": DB1, "volumeId": SCRATCH,
                                                "id": SCRATCH}}
    assert settle(alice, SCRATCH, "in-use") == ["reserved", "attaching", "in-use"]
    assert alice.volume(SCRATCH)["attachments"][0]["server_id"] == DB1
    listed = alice.compute("GET", f"/servers/{DB1}/os-volume_attachments").json()["volumeAttachments"]
    assert [a["volumeId"] for a in listed] == [SCRATCH]
    server = alice.compute("GET", f"/servers/{DB1}").json()["server"]
    assert server["os-extended-volumes:volumes_attached"] == [{"id": SCRATCH}]
    refused = alice.action(SCRATCH, {"os-detach": {}})
    assert refused.status_code == 409

    gone = alice.compute("DELETE", f"/servers/{DB1}/os-volume_attachments/{SCRATCH}")
    assert gone.status_code == 202
    assert settle(alice, SCRATCH, "available") == ["detaching", "available"]
    actions = alice.compute("GET", f"/servers/{DB1}/os-instance-actions").json()["instanceActions"]
    assert [a["action"] for a in actions] == ["detach_volume", "attach_volume", "create"]
    assert actions[0]["request_id"] == gone.headers["x-openstack-request-id"]
    not_attached = alice.compute("DELETE", f"/servers/{DB1}/os-volume_attachments/{SCRATCH}")
    assert not_attached.status_code == 404 and fault(not_attached)[0] == "itemNotFound"
    missing = alice.compute("GET", f"/servers/{BOB_VM}/os-instance-actions")
    assert fault(missing) == ("itemNotFound", 404, f"Instance {BOB_VM} could not be found.")
    busy = alice.compute("POST", f"/servers/{DB1}/os-volume_attachments",
                         json={"volumeAttachment": {"volumeId": WEB_ROOT}})
    assert busy.status_code == 400 and fault(busy)[0] == "badRequest"
    newer = alice.compute("GET", f"/servers/{WEB1}/os-volume_attachments",
                          headers={"OpenStack-API-Version": "compute 2.89"})
    assert set(newer.json()["volumeAttachments"][0]) >= {"attachment_id", "bdm_uuid", "delete_on_termination"}


def test_it_retypes_by_name_or_id(alice: Client) -> None:
    assert alice.action(SCRATCH, {"os-retype": {"new_type": "gold", "migration_policy": "never"}}).status_code \
        == 202  # capture 25
    seq = watch(lambda: (lambda v: (v["status"], v["volume_type"]))(alice.volume(SCRATCH)),
                lambda s: s[0] == "available")
    assert seq == [("retyping", "default"), ("available", "gold")]
    same = alice.action(SCRATCH, {"os-retype": {"new_type": GOLD}})  # capture 26, by id
    assert same.status_code == 400 and fault(same)[2].startswith("Invalid volume: Retype needs volume")
    unknown_id = alice.action(SCRATCH, {"os-retype": {"new_type": "6990fce2-8ac6-4ff9-8681-e1c2e27436df"}})
    assert fault(unknown_id)[2] == "Volume type 6990fce2-8ac6-4ff9-8681-e1c2e27436df could not be found."
    assert alice.action(WEB_ROOT, {"os-retype": {"new_type": "gold", "migration_policy": "on-demand"}}) \
        .status_code == 202  # capture 28
    assert settle(alice, WEB_ROOT, "in-use") == ["retyping", "in-use"]
    assert alice.volume(WEB_ROOT)["volume_type"] == "gold"


def test_it_uploads_volumes_to_glance(alice: Client, cloud: DemoCloud) -> None:
    resp = alice.action(SCRATCH, {"os-volume_upload_image": {"image_name": "scratch-img", "disk_format": "qcow2"}})
    assert resp.status_code == 202  # capture 35: a body, visibility shared at 3.0
    body = resp.json()["os-volume_upload_image"]
    assert list(body) == ["id", "updated_at", "status", "display_description", "size", "volume_type", "image_id",
                          "container_format", "disk_format", "image_name", "protected", "visibility"]
    assert (body["status"], body["visibility"], body["container_format"]) == ("uploading", "shared", "bare")
    assert body["volume_type"]["name"] == "default" and body["volume_type"]["deleted"] is False
    image_id = body["image_id"]
    images = watch(lambda: alice.image("GET", f"/images/{image_id}").json()["status"], lambda s: s == "active")
    assert images[-2:] == ["saving", "active"]
    assert settle(alice, SCRATCH, "available")[-1] == "available"
    image = alice.image("GET", f"/images/{image_id}").json()
    assert image["owner"] == DEMO and image["virtual_size"] == 1024 ** 3 and image["os_hash_algo"] == "sha512"
    private = alice.action(SCRATCH, {"os-volume_upload_image": {"image_name": "raw-img", "disk_format": "raw",
                                                                "container_format": "bare",
                                                                "visibility": "private"}}, mv="3.1")  # 36
    assert private.json()["os-volume_upload_image"]["visibility"] == "private"
    bob = cloud.login("bob", "other")
    hidden = bob.image("GET", f"/images/{image_id}")
    assert hidden.status_code == 404 and hidden.headers["Content-Type"].startswith("text/html")
    assert f"No image found with ID {image_id}" in hidden.text
    assert image_id not in {i["id"] for i in bob.image("GET", "/images").json()["images"]}

    in_use = alice.action(WEB_ROOT, {"os-volume_upload_image": {"image_name": "x", "disk_format": "raw"}})  # 30
    assert fault(in_use) == ("badRequest", 400, f"Invalid volume: Volume {WEB_ROOT} status must be available")
    forced = alice.action(WEB_ROOT, {"os-volume_upload_image": {"image_name": "x", "force": "yes"}})
    assert forced.status_code == 202
    assert settle(alice, WEB_ROOT, "in-use") == ["uploading", "in-use"]


def test_it_uploads_from_a_snapshot_only_with_the_extension(cloud: DemoCloud, alice: Client) -> None:
    ok = alice.action(DATA01, {"os-volume_upload_image": {"image_name": "from-snap", "snapshot_id": SNAP_TUE}})
    assert ok.status_code == 202
    settle(alice, DATA01, "available")
    foreign = alice.action(SCRATCH, {"os-volume_upload_image": {"image_name": "x", "snapshot_id": SNAP_TUE}})
    assert foreign.status_code == 400 and SNAP_TUE in fault(foreign)[2]
    cloud.control("POST", "config", {"snapshot_upload": False})
    upstream = alice.action(DATA01, {"os-volume_upload_image": {"image_name": "x", "snapshot_id": SNAP_TUE}})
    assert fault(upstream)[2].endswith("Additional properties are not allowed ('snapshot_id' was unexpected)")
    flagged = DemoCloud("--delay", "0", "--no-snapshot-upload")
    try:
        assert flagged.control("GET", "config")["snapshot_upload"] is False
    finally:
        flagged.stop()


def test_it_reverts_only_to_the_latest_snapshot(alice: Client) -> None:
    older = alice.action(DATA01, {"revert": {"snapshot_id": SNAP_MON}}, mv="3.40")  # capture 43
    assert fault(older) == ("badRequest", 400, f"Specified snapshot {SNAP_MON} is None or not the latest one of "
                                               f"volume {DATA01}.")
    unknown = alice.action(DATA01, {"revert": {"snapshot_id": "6990fce2-8ac6-4ff9-8681-e1c2e27436df"}}, mv="3.40")
    assert fault(unknown)[2].startswith("Specified snapshot 6990fce2-8ac6-4ff9-8681-e1c2e27436df is None")  # 45
    ok = alice.action(DATA01, {"revert": {"snapshot_id": SNAP_TUE}}, mv="3.40")  # capture 44
    assert ok.status_code == 202 and ok.headers["OpenStack-API-Version"] == "volume 3.40"
    assert alice.snapshot(SNAP_TUE)["status"] == "restoring"
    assert settle(alice, DATA01, "available") == ["reverting", "available"]
    assert alice.snapshot(SNAP_TUE)["status"] == "available" and alice.volume(DATA01)["size"] == 10
    alice.action(DATA01, {"os-extend": {"new_size": 11}})
    settle(alice, DATA01, "available")
    resized = alice.action(DATA01, {"revert": {"snapshot_id": SNAP_TUE}}, mv="3.40")
    assert resized.status_code == 400 and "must be equal to the snapshot size" in fault(resized)[2]


def test_it_creates_volumes_and_snapshots(alice: Client) -> None:
    created = alice.vol("POST", "/volumes", json={"volume": {"size": 1, "name": "smoke"}})  # capture 09
    assert created.status_code == 202
    vol = created.json()["volume"]
    assert vol["status"] == "creating" and vol["updated_at"] is None and "os-vol-tenant-attr:tenant_id" not in vol
    assert settle(alice, vol["id"], "available") == ["creating", "available"]
    snaps = []
    for name in ("smoke-snap1", "smoke-snap2"):  # captures 37, 38
        resp = alice.vol("POST", "/snapshots", json={"snapshot": {"volume_id": vol["id"], "name": name}})
        assert resp.status_code == 202 and resp.json()["snapshot"]["status"] == "creating"
        snaps.append(resp.json()["snapshot"]["id"])
        time.sleep(0.01)
    watch(lambda: alice.snapshot(snaps[1])["status"], lambda s: s == "available")
    listed = alice.vol("GET", "/snapshots", params={"volume_id": vol["id"]}).json()["snapshots"]  # capture 39
    assert [s["name"] for s in listed] == ["smoke-snap2", "smoke-snap1"]
    assert "os-extended-snapshot-attributes:progress" not in listed[0]
    detail = alice.vol("GET", "/snapshots/detail", params={"volume_id": vol["id"]}, mv="latest")  # capture 40
    assert list(detail.json()["snapshots"][0])[9:] == ["group_snapshot_id", "user_id", "consumes_quota",
                                                       "os-extended-snapshot-attributes:project_id",
                                                       "os-extended-snapshot-attributes:progress"]
    assert alice.vol("DELETE", f"/volumes/{vol['id']}").status_code == 400  # it has snapshots


def test_it_injects_backend_faults_after_the_202(cloud: DemoCloud, alice: Client) -> None:
    cloud.control("POST", "faults", {"backend": {"extend": "fail", "retype": "silent", "upload": "fail",
                                                 "revert": "fail"}})
    extend = alice.action(SCRATCH, {"os-extend": {"new_size": 2}})
    assert extend.status_code == 202
    assert settle(alice, SCRATCH, "error_extending") == ["extending", "error_extending"]
    assert alice.vol("GET", "/messages", mv="3.2").status_code == 404
    [msg] = alice.vol("GET", "/messages", params={"resource_uuid": SCRATCH}, mv="3.5").json()["messages"]
    assert (msg["event_id"], msg["user_message"]) == ("VOLUME_VOLUME_007_010",
                                                      "extend volume: Volume Driver failed to extend volume.")
    assert msg["request_id"] == extend.headers["x-openstack-request-id"] and msg["resource_type"] == "VOLUME"
    assert msg["message_level"] == "ERROR" and msg["guaranteed_until"] > msg["created_at"]

    alice.action(ARCHIVE, {"os-retype": {"new_type": "default"}})
    assert settle(alice, ARCHIVE, "available") == ["retyping", "available"]
    assert alice.volume(ARCHIVE)["volume_type"] == "gold"
    assert alice.vol("GET", "/messages", params={"resource_uuid": ARCHIVE}, mv="3.5").json()["messages"] == []

    upload = alice.action(DATA01, {"os-volume_upload_image": {"image_name": "doomed"}})
    image_id = upload.json()["os-volume_upload_image"]["image_id"]
    settle(alice, DATA01, "available")
    watch(lambda: alice.image("GET", f"/images/{image_id}").status_code, lambda c: c == 404)
    [upmsg] = alice.vol("GET", "/messages", params={"resource_uuid": DATA01}, mv="3.5").json()["messages"]
    assert upmsg["user_message"] == "copy volume to image: Failed to upload volume to image at backend."
    # Below 3.5 real Cinder reads no query parameter: the filter is ignored, the project's messages come back.
    unfiltered = alice.vol("GET", "/messages", params={"resource_uuid": ARCHIVE}, mv="3.3").json()["messages"]
    assert [m["id"] for m in unfiltered] == [upmsg["id"], msg["id"]]

    alice.action(DATA01, {"revert": {"snapshot_id": SNAP_TUE}}, mv="3.40")
    assert settle(alice, DATA01, "error") == ["reverting", "error"]
    cloud.control("DELETE", "faults")
    assert alice.action(SCRATCH, {"os-extend": {"new_size": 2}}).status_code == 400  # error_extending stays


def test_it_injects_http_faults_per_service(cloud: DemoCloud, alice: Client) -> None:
    cloud.control("POST", "faults", {"http": [
        {"service": "volume", "method": "POST", "path": "/action", "status": 503, "times": 1},
        {"service": "identity", "status": 500, "times": 1},
        {"service": "image", "status": 502, "times": 1},
        {"service": "compute", "delay": 0.3, "times": 1},
        {"service": "compute", "close": True, "times": 1}]})
    down = alice.action(SCRATCH, {"os-extend": {"new_size": 2}})
    assert down.status_code == 503 and fault(down)[0] == "serviceUnavailable"
    assert down.headers["OpenStack-API-Version"] == "volume 3.0"
    assert REQ_ID.match(down.headers["x-openstack-request-id"])
    assert alice.vol("GET", "/volumes").status_code == 200  # GET is not matched by the rule
    assert alice.action(SCRATCH, {"os-extend": {"new_size": 2}}).status_code == 202  # times: 1
    keystone = requests.post(f"{cloud.url}/identity/v3/auth/tokens", json=cloud.auth_body("alice", "demo"),
                             timeout=5)
    assert keystone.status_code == 500 and keystone.json()["error"]["title"] == "Internal Server Error"
    glance = alice.image("GET", "/images")
    assert glance.status_code == 502 and glance.headers["Content-Type"].startswith("text/html")
    started = time.monotonic()
    assert alice.compute("GET", "/servers").status_code == 200
    assert time.monotonic() - started >= 0.3
    with pytest.raises(requests.ConnectionError):
        alice.compute("GET", "/servers")
    assert alice.compute("GET", "/servers").status_code == 200
    cloud.control("POST", "faults", {"http": [{"service": "volume", "status": 500}]})
    assert fault(alice.vol("GET", "/volumes"))[0] == "computeFault"
    assert cloud.control("DELETE", "faults") == {"backend": {}, "http": []}
    assert alice.vol("GET", "/volumes").status_code == 200


def test_it_counts_requests_by_route_template(cloud: DemoCloud, alice: Client) -> None:
    cloud.control("DELETE", "requests")
    alice.vol("GET", "/volumes/detail")
    alice.volume(SCRATCH)
    alice.volume(DATA01)
    alice.action(SCRATCH, {"os-extend": {"new_size": 2}})
    counts = cloud.control("GET", "requests")
    assert counts["counts"] == {"GET /volume/v3/{project_id}/volumes/detail": 1,
                                "GET /volume/v3/{project_id}/volumes/{volume_id}": 2,
                                "POST /volume/v3/{project_id}/volumes/{volume_id}/action": 1}
    assert counts["total"] == 4


def test_it_resets_to_the_seed_and_dumps_state(cloud: DemoCloud, alice: Client, admin: Client) -> None:
    alice.action(SCRATCH, {"os-extend": {"new_size": 3}})
    cloud.control("POST", "faults", {"backend": {"extend": "fail"}})
    assert admin.action(SCRATCH, {"os-reset_status": {"status": "error"}}).status_code == 202  # capture 70
    extend_error = alice.action(SCRATCH, {"os-extend": {"new_size": 10}})  # capture 71
    assert fault(extend_error)[2] == (f"Invalid volume: Volume {SCRATCH} status must be '{{'status': "
                                      "'available'}' to extend, currently error.")
    cloud.control("POST", "reset")
    state = cloud.control("GET", "state")
    assert state["faults"] == {"backend": {}, "http": []}
    assert state["volumes"][SCRATCH]["size"] == 1 and state["volumes"][SCRATCH]["status"] == "available"
    assert set(state["servers"]) == {WEB1, DB1, BOB_VM}
    assert state["projects"][DEMO]["name"] == "demo" and "password" not in json.dumps(state)
    assert alice.volume(SCRATCH)["status"] == "available"  # tokens survive a reset


def test_it_keeps_connections_alive_with_exact_content_length(cloud: DemoCloud, alice: Client) -> None:
    host, port = cloud.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        for _ in range(2):
            conn.request("GET", f"/volume/v3/{DEMO}/volumes", headers={"X-Auth-Token": alice.token})
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 200 and int(resp.getheader("Content-Length")) == len(body)
            assert resp.getheader("Connection") == "keep-alive" and resp.version == 11
        conn.request("POST", f"/volume/v3/{DEMO}/volumes/{SCRATCH}/action", body=b'{"os-extend": {"new_size": 2}}',
                     headers={"X-Auth-Token": alice.token, "Content-Type": "application/json"})
        accepted = conn.getresponse()
        assert accepted.status == 202 and accepted.read() == b"" and accepted.getheader("Content-Length") == "0"
        assert accepted.getheader("Content-Type") == "application/json"
    finally:
        conn.close()


# ---- partial clouds (storage-only deployments) -------------------------------------------------------------
def test_it_leaves_compute_and_image_out_of_the_catalog_when_told(cloud: DemoCloud) -> None:
    cloud.control("POST", "config", {"without": ["image", "compute"]})
    alice = cloud.login("alice", "demo")
    assert {e["type"] for e in alice.body["catalog"]} == {"identity", "volumev3", "block-storage"}
    listed = alice.request("GET", f"{cloud.url}/identity/v3/auth/catalog").json()["catalog"]
    assert {e["type"] for e in listed} == {"identity", "volumev3", "block-storage"}
    # Nothing listens where Nova and Glance would be; Cinder carries on.
    assert alice.request("GET", f"{cloud.url}/compute/v2.1/servers").status_code == 404
    assert alice.request("GET", f"{cloud.url}/image/v2/images").status_code == 404
    assert alice.action(WEB_ROOT, {"os-extend": {"new_size": 21}}, mv="3.42").status_code == 202
    settle(alice, WEB_ROOT, "in-use")
    assert alice.volume(WEB_ROOT)["size"] == 21
    # Cinder's volume-extended event has no Nova to land in.
    actions = cloud.control("GET", "state")["instance_actions"][WEB1]
    assert "extend_volume" not in [a["action"] for a in actions]

    for bad in ({"without": "compute"}, {"without": ["volume"]}, {"without": [1]}):
        resp = requests.post(f"{cloud.url}/_demo/config", json=bad, timeout=5)
        assert resp.status_code == 400 and "without must be a list" in resp.json()["error"]
    cloud.control("POST", "reset")  # the reset keeps config, as documented
    assert cloud.control("GET", "config")["without"] == ["compute", "image"]
    cloud.control("POST", "config", {"without": ["compute"]})
    only_image = cloud.login("alice", "demo")
    assert "image" in {e["type"] for e in only_image.body["catalog"]}
    assert "compute" not in {e["type"] for e in only_image.body["catalog"]}


def test_it_starts_without_a_service_from_the_command_line() -> None:
    storage_only = DemoCloud("--without", "compute", "--without", "image")
    try:
        assert storage_only.control("GET", "config")["without"] == ["compute", "image"]
        types = {e["type"] for e in storage_only.login("alice", "demo").body["catalog"]}
        assert types == {"identity", "volumev3", "block-storage"}
    finally:
        storage_only.stop()
    refused = subprocess.run([sys.executable, "-m", "volpanel.democloud", "--without", "volume"],
                             capture_output=True, text=True, timeout=30)
    assert refused.returncode == 2 and "invalid choice: 'volume'" in refused.stderr


def test_it_renames_a_server_with_nova_s_name_rules(alice: Client) -> None:
    hostile = '"><svg onload=alert(1)>'
    renamed = alice.compute("PUT", f"/servers/{DB1}", json={"server": {"name": hostile}})
    assert renamed.status_code == 200 and renamed.json()["server"]["name"] == hostile
    assert alice.compute("GET", f"/servers/{DB1}").json()["server"]["name"] == hostile
    for bad in ("\u202egnp.exe", " padded", "tab\there", ""):
        refused = alice.compute("PUT", f"/servers/{DB1}", json={"server": {"name": bad}})
        assert fault(refused)[:2] == ("badRequest", 400), bad
        assert "The name must be: printable characters." in fault(refused)[2]
    assert alice.compute("PUT", f"/servers/{BOB_VM}", json={"server": {"name": "mine"}}).status_code == 404
    assert alice.compute("PUT", f"/servers/{DB1}", json={"server": {"flavor": "x"}}).status_code == 400
