"""One contract, two clouds: every case runs against the embedded demo cloud and the real Keystone + Cinder +
Glance (tests/realcloud/up.sh), through volpanel's client layer or raw through a keystoneauth session, and
asserts the same status codes, fault names, message texts (ids normalized), status sequences and final state.

    .venv/bin/python -m pytest tests/contract -q               # demo cloud only (the default -m "not realcloud")
    .venv/bin/python -m pytest tests/contract -q -m realcloud  # real cloud only
    .venv/bin/python -m pytest tests/contract -q -m ""         # both
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest

from tests.contract.conftest import CloudUnderTest, Seen, mv
from volpanel.openstack.errors import CloudError
from volpanel.volumes import actions

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
HEX_RE = re.compile(r"\b[0-9a-f]{32}\b")
REQ_RE = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def norm(text: str) -> str:
    return HEX_RE.sub("<project>", UUID_RE.sub("<id>", text))


def first_line(text: str) -> str:
    return text.split("\n", 1)[0].strip()


def fault(response: Any, version: str = "3.0") -> tuple[int, str, str]:
    """(status, fault name, first line of the message with ids normalized) of a raw Cinder answer, after
    checking the headers every Cinder answer carries."""
    headers = response.headers
    assert REQ_RE.match(headers.get("x-openstack-request-id", "")), dict(headers)
    assert headers.get("openstack-api-version") == f"volume {version}", dict(headers)
    body = response.json()
    assert isinstance(body, dict) and len(body) == 1, body
    ((name, value),) = body.items()
    assert value["code"] == response.status_code, body
    return response.status_code, name, norm(first_line(value["message"]))


def error(exc: pytest.ExceptionInfo[CloudError]) -> tuple[str, int | None, str, str]:
    e = exc.value
    assert REQ_RE.match(e.request_id), e
    return e.kind, e.status, e.fault_name, norm(e.first_line)


def assert_sequence(seen: Seen, transitional: str | None, final: str) -> None:
    """What polling every 50 ms saw after the answer: the transitional status then the final one, or only the
    final one when the cloud was faster than the poll."""
    allowed = [[final]] + ([[transitional, final]] if transitional else [])
    assert seen.statuses in allowed, f"statuses seen {seen.statuses}, allowed {allowed}"


NOT_FOUND = (404, "itemNotFound", "The resource could not be found.")
SIZE_MSG = "Invalid input received: New size for extend must be greater than current size. (current: {}, extended: {})."
IN_USE_EXTEND = "Invalid volume: Volume <id> status must be '{'status': 'available'}' to extend, currently in-use."
ALREADY_ATTACHED = "Invalid volume: volume is already attached and multiple attachments are not enabled"
NOVA_CONFLICT = "ConflictNovaUsingAttachment: Detach volume from instance  using the Compute API"
RETYPE_INVALID = ("Invalid volume: Retype needs volume to be in available or in-use state, not be part of an active "
                  "migration or a consistency group, requested type has to be different that the one from the "
                  "volume, and for in-use volumes front-end qos specs cannot change.")
UPLOAD_KEYS_3_0 = {"id", "updated_at", "status", "display_description", "size", "volume_type", "image_id",
                   "container_format", "disk_format", "image_name", "protected", "visibility"}
VOLUME_TYPE_KEYS = {"id", "name", "description", "is_public", "extra_specs", "qos_specs_id", "created_at",
                    "updated_at", "deleted_at", "deleted"}


# --- extend ----------------------------------------------------------------------------------------------
def test_extend_available(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    result = cut.cloud().cinder.extend(vol, 2, in_use=False)
    assert (result.status, result.microversion, result.body) == (202, "3.0", {})
    assert REQ_RE.match(result.request_id)
    seen = cut.watch_volume(vol)
    assert_sequence(seen, "extending", "available")
    assert seen.final and seen.final["size"] == 2


def test_extend_accepts_a_numeric_string(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    r = cut.post_action(vol, {"os-extend": {"new_size": "3"}})
    assert r.status_code == 202 and r.content == b""
    seen = cut.watch_volume(vol)
    assert_sequence(seen, "extending", "available")
    assert seen.final and seen.final["size"] == 3


def test_extend_in_use_at_3_42(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    cut.attach_host(vol)
    result = cut.cloud().cinder.extend(vol, 2, in_use=True)
    assert (result.status, result.microversion) == (202, "3.42")
    seen = cut.watch_volume(vol)
    assert_sequence(seen, "extending", "in-use")
    assert seen.final and seen.final["size"] == 2 and len(seen.final["attachments"]) == 1


@pytest.mark.parametrize("new_size", [1, 0.5], ids=["same-size", "smaller"])
def test_extend_to_same_or_smaller_size(cut: CloudUnderTest, new_size: float) -> None:
    vol = cut.make_volume(1)
    cinder = cut.cloud().cinder
    cinder.extend(vol, 2, in_use=False)
    cut.watch_volume(vol)
    target = 2 if new_size == 1 else 1
    with pytest.raises(CloudError) as exc:
        cinder.extend(vol, target, in_use=False)
    assert error(exc) == ("fault", 400, "badRequest", SIZE_MSG.format(2, target))
    assert cut.get_volume(vol)["status"] == "available"


@pytest.mark.parametrize("version", ["3.0", "3.41"])
def test_extend_in_use_below_3_42(cut: CloudUnderTest, version: str) -> None:
    vol = cut.make_volume(1)
    cut.attach_host(vol)
    with pytest.raises(CloudError) as exc:
        cut.cloud().cinder.action(vol, {"os-extend": {"new_size": 2}}, tuple(map(int, version.split("."))))
    assert error(exc) == ("fault", 400, "badRequest", IN_USE_EXTEND)
    volume = cut.get_volume(vol)
    assert (volume["status"], volume["size"]) == ("in-use", 1)


# --- attach / detach -------------------------------------------------------------------------------------
def test_attach_by_instance_uuid(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    instance = str(uuid.uuid4())
    result = cut.cloud().cinder.attach(vol, "/dev/vdb", instance_uuid=instance)
    assert result.status == 202 and result.body == {}
    seen = cut.watch_volume(vol)
    assert_sequence(seen, "attaching", "in-use")
    (att,) = seen.final["attachments"]
    assert (att["server_id"], att["host_name"], att["device"], att["volume_id"], att["id"]) == (
        instance, None, "/dev/vdb", vol, vol)
    assert UUID_RE.fullmatch(att["attachment_id"]) and att["attachment_id"] != vol


def test_attach_by_host_name(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    result = cut.cloud().cinder.attach(vol, "/dev/vdc", host_name="contract-host")
    assert result.status == 202
    seen = cut.watch_volume(vol)
    assert_sequence(seen, "attaching", "in-use")
    (att,) = seen.final["attachments"]
    # Real Cinder keeps no host_name for os-attach; the device is what names a host attachment.
    assert (att["server_id"], att["host_name"], att["device"]) == (None, None, "/dev/vdc")
    volume = cut.cloud().cinder.get_volume(vol)
    assert volume.status == "in-use" and volume.attachments[0].device == "/dev/vdc"


def test_detach_by_attachment_id(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    attachment_id = cut.attach_host(vol)
    result = cut.cloud().cinder.detach(vol, attachment_id)
    assert result.status == 202
    seen = cut.watch_volume(vol)
    assert_sequence(seen, "detaching", "available")
    assert seen.final["attachments"] == []


def test_attach_an_in_use_volume(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    cut.attach_host(vol)
    with pytest.raises(CloudError) as exc:
        cut.cloud().cinder.attach(vol, "/dev/vdd", instance_uuid=str(uuid.uuid4()))
    assert error(exc) == ("fault", 400, "badRequest", ALREADY_ATTACHED)
    # Real cinder-api appends the RPC traceback after the first line.
    assert "\nTraceback (most recent call last):" in exc.value.message
    assert len(cut.get_volume(vol)["attachments"]) == 1


def test_detach_unknown_attachment_id(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    cut.attach_host(vol)
    with pytest.raises(CloudError) as exc:
        cut.cloud().cinder.detach(vol, str(uuid.uuid4()))
    assert error(exc) == ("fault", 409, "conflictingRequest", NOVA_CONFLICT)
    assert cut.get_volume(vol)["status"] == "in-use"


# --- retype ----------------------------------------------------------------------------------------------
def test_retype_default_to_gold(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    assert cut.get_volume(vol)["volume_type"] == "default"
    result = cut.cloud().cinder.retype(vol, "gold", "never")
    assert result.status == 202
    seen = cut.watch_volume(vol)
    assert_sequence(seen, "retyping", "available")
    assert seen.final["volume_type"] == "gold"


def test_retype_to_the_same_type(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    with pytest.raises(CloudError) as exc:
        cut.cloud().cinder.retype(vol, "default", "never")
    assert error(exc) == ("fault", 400, "badRequest", RETYPE_INVALID)


def test_retype_to_an_unknown_type(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    with pytest.raises(CloudError) as exc:
        cut.cloud().cinder.retype(vol, "platinum", "never")
    assert error(exc) == ("fault", 404, "itemNotFound", "Volume type with name platinum could not be found.")
    assert cut.get_volume(vol)["volume_type"] == "default"


# --- upload to image -------------------------------------------------------------------------------------
def test_upload_to_image_reaches_active(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    cloud = cut.cloud()
    result = cloud.cinder.upload_to_image(vol, image_name="contract-img", disk_format="qcow2",
                                          container_format="bare", visibility="private", protected=False)
    assert (result.status, result.microversion) == (202, "3.1")
    body = result.body["os-volume_upload_image"]
    cut.track_image(body["image_id"])
    assert set(body) == UPLOAD_KEYS_3_0 and set(body["volume_type"]) == VOLUME_TYPE_KEYS
    assert (body["id"], body["status"], body["image_name"], body["disk_format"], body["container_format"],
            body["visibility"], body["protected"], body["size"]) == (
        vol, "uploading", "contract-img", "qcow2", "bare", "private", False, 1)
    assert body["volume_type"]["name"] == "default" and body["volume_type"]["extra_specs"] == {}
    seen = cut.watch_volume(vol)
    assert_sequence(seen, "uploading", "available")
    image_seen = cut.watch(lambda: cut.get_image(body["image_id"]))
    assert image_seen.statuses[-1] == "active" and set(image_seen.statuses) <= {"queued", "saving", "active"}
    image = cloud.glance.get_image(body["image_id"])
    assert image and (image.status, image.name, image.disk_format) == ("active", "contract-img", "qcow2")
    raw = cut.get_image(body["image_id"])
    assert raw["visibility"] == "private" and raw["container_format"] == "bare"


def test_upload_an_in_use_volume_without_force(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    cut.attach_host(vol)
    with pytest.raises(CloudError) as exc:
        cut.cloud().cinder.upload_to_image(vol, image_name="contract-inuse", disk_format="raw",
                                           container_format="bare", visibility="private", protected=False)
    assert error(exc) == ("fault", 400, "badRequest", "Invalid volume: Volume <id> status must be available")
    assert cut.get_volume(vol)["status"] == "in-use"


# --- revert ----------------------------------------------------------------------------------------------
def test_revert_to_the_latest_snapshot_at_3_40(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    cut.make_snapshot(vol)
    latest = cut.make_snapshot(vol)
    cloud = cut.cloud()
    assert [s.id for s in cloud.cinder.list_snapshots(vol)][0] == latest
    result = cloud.cinder.revert(vol, latest)
    assert (result.status, result.microversion) == (202, "3.40")
    seen = cut.watch_volume(vol)
    assert_sequence(seen, "reverting", "available")
    assert cut.watch(lambda: cut.get_snapshot(latest)).final["status"] == "available"


@pytest.mark.parametrize("version", ["3.0", "3.39"])
def test_revert_below_3_40(cut: CloudUnderTest, version: str) -> None:
    vol = cut.make_volume(1)
    snap = cut.make_snapshot(vol)
    r = cut.post_action(vol, {"revert": {"snapshot_id": snap}}, version)
    assert fault(r, version) == NOT_FOUND


def test_revert_to_a_snapshot_that_is_not_the_latest(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    older = cut.make_snapshot(vol)
    cut.make_snapshot(vol)
    with pytest.raises(CloudError) as exc:
        cut.cloud().cinder.revert(vol, older)
    assert error(exc) == ("fault", 400, "badRequest",
                          "Specified snapshot <id> is None or not the latest one of volume <id>.")
    assert exc.value.message == (f"Specified snapshot {older} is None or not the latest one of volume {vol}.")


def test_revert_an_in_use_volume(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    snap = cut.make_snapshot(vol)
    cut.attach_host(vol)
    with pytest.raises(CloudError) as exc:
        cut.cloud().cinder.revert(vol, snap)
    assert error(exc) == ("fault", 409, "conflictingRequest",
                          "Invalid volume: Can't revert volume <id> to its latest snapshot <id>. Volume's status "
                          "must be 'available'.")
    assert cut.get_volume(vol)["status"] == "in-use"
    assert cut.get_snapshot(snap)["status"] == "available"


# --- malformed bodies, sent raw --------------------------------------------------------------------------
MALFORMED = {
    "missing-new_size": ({"os-extend": {}},
                         "Invalid input for field/attribute os-extend. Value: {}. 'new_size' is a required property"),
    "string-abc": ({"os-extend": {"new_size": "abc"}},
                   "Invalid input for field/attribute new_size. Value: abc. 'abc' does not match '^[0-9]+$'"),
    "float": ({"os-extend": {"new_size": 5.5}},
              "Invalid input for field/attribute new_size. Value: 5.5. 5.5 is not of type 'integer', 'string'"),
    "extra-property": ({"os-extend": {"new_size": 9, "foo": 1}},
                       "Invalid input for field/attribute os-extend. Value: {'new_size': 9, 'foo': 1}. Additional "
                       "properties are not allowed ('foo' was unexpected)"),
    "not-an-object": ({"os-extend": 5}, "Invalid input for field/attribute os-extend. Value: 5. 5 is not of type "
                                        "'object'"),
    "two-actions": ({"os-extend": {"new_size": 9}, "os-retype": {"new_type": "gold"}}, "Malformed request body"),
    "unknown-action": ({"os-frobnicate": {}}, "There is no such action: os-frobnicate. Verify the request body "
                                              "and Content-Type header and try again."),
    "retype-missing-new_type": ({"os-retype": {}}, "Invalid input for field/attribute os-retype. Value: {}. "
                                                   "'new_type' is a required property"),
    "attach-bad-uuid": ({"os-attach": {"instance_uuid": "not-a-uuid", "mountpoint": "/dev/vdb"}},
                        "Invalid input for field/attribute instance_uuid. Value: not-a-uuid. 'not-a-uuid' is not a "
                        "'uuid'"),
}


def test_malformed_bodies(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    answers = {name: fault(cut.post_action(vol, body)) for name, (body, _) in MALFORMED.items()}
    assert answers == {name: (400, "badRequest", message) for name, (_, message) in MALFORMED.items()}
    assert fault(cut.post_action(vol, None, raw=b'{"os-extend": {"new_size": 3')) == (
        400, "badRequest", "Malformed request body")
    assert fault(cut.post_action(vol, None, raw=b"")) == (
        400, "badRequest", "There is no such action: None. Verify the request body and Content-Type header and "
                           "try again.")
    volume = cut.get_volume(vol)
    assert (volume["status"], volume["size"], volume["volume_type"]) == ("available", 1, "default")


# --- other projects --------------------------------------------------------------------------------------
def test_another_projects_volume_is_not_found_for_a_member(cut: CloudUnderTest) -> None:
    bobs = cut.make_volume(1, user="bob", project="other")
    alices = cut.make_volume(1)
    with pytest.raises(CloudError) as exc:
        cut.cloud("alice", "demo").cinder.extend(bobs, 2, in_use=False)
    assert error(exc) == ("fault", 404, "itemNotFound", "Volume <id> could not be found.")
    with pytest.raises(CloudError) as exc:
        cut.cloud("alice", "demo").cinder.get_volume(bobs)
    assert error(exc) == ("fault", 404, "itemNotFound", "Volume <id> could not be found.")
    with pytest.raises(CloudError) as exc:
        cut.cloud("bob", "other").cinder.retype(alices, "gold", "never")
    assert error(exc) == ("fault", 404, "itemNotFound", "Volume <id> could not be found.")
    assert cut.get_volume(bobs, "bob", "other")["size"] == 1
    assert cut.get_volume(alices)["volume_type"] == "default"


def test_another_projects_id_in_the_url(cut: CloudUnderTest) -> None:
    bobs = cut.make_volume(1, user="bob", project="other")
    alices = cut.make_volume(1)
    other = cut.project_id("bob", "other")
    for volume_id in (bobs, alices):
        r = cut.post_action(volume_id, {"os-extend": {"new_size": 2}}, url_project=other)
        assert fault(r) == (400, "badRequest", "Malformed request url")
    assert cut.get_volume(alices)["size"] == 1 and cut.get_volume(bobs, "bob", "other")["size"] == 1


# --- through services: the audit row's final outcome -----------------------------------------------------
def _actor(creds: Any) -> Any:
    from volpanel.volumes import services

    return services.Actor(credentials=creds, source_ip="127.0.0.1", user_agent="contract")


def _settled(entry: Any) -> Any:
    from volpanel.audit.models import AuditEntry
    from volpanel.volumes import watchers

    assert watchers.wait_idle(90), "the watcher never settled"
    return AuditEntry.objects.get(pk=entry.pk)


@pytest.mark.django_db(transaction=True)
def test_services_extend_and_retype_record_success(cut: CloudUnderTest) -> None:
    from volpanel.audit.models import Outcome

    vol = cut.make_volume(1)
    cloud = cut.cloud()
    row = _settled(actions.run("extend", cloud=cloud, actor=_actor(cloud.credentials),
                                          volume=cloud.cinder.get_volume(vol), new_size=2))
    assert (row.outcome, row.http_status, row.status_before, row.status_after) == (
        Outcome.SUCCEEDED, 202, "available", "available")
    assert row.parameters == {"new_size": 2, "old_size": 1} and row.detail == "The volume is now 2 GiB."
    row = _settled(actions.run("retype", cloud=cloud, actor=_actor(cloud.credentials),
                                          volume=cloud.cinder.get_volume(vol), new_type="gold",
                                          migration_policy="never"))
    assert (row.outcome, row.detail) == (Outcome.SUCCEEDED, "The volume's type is now gold.")
    row = _settled(actions.run("retype", cloud=cloud, actor=_actor(cloud.credentials),
                                          volume=cloud.cinder.get_volume(vol), new_type="gold",
                                          migration_policy="never"))
    assert (row.outcome, row.http_status, row.fault_name, norm(row.detail)) == (
        Outcome.REJECTED, 400, "badRequest", RETYPE_INVALID)


@pytest.mark.django_db(transaction=True)
def test_services_host_attach_and_detach_record_success(cut: CloudUnderTest) -> None:
    from volpanel.audit.models import Outcome

    vol = cut.make_volume(1)
    cloud = cut.cloud()
    row = _settled(actions.run("attach_host", cloud=cloud, actor=_actor(cloud.credentials),
                                               volume=cloud.cinder.get_volume(vol), host_name="contract-host",
                                               mountpoint="/dev/vdc", mode="rw"))
    assert (row.outcome, row.action, row.status_after, row.detail) == (
        Outcome.SUCCEEDED, actions.ATTACH.name, "in-use", "Attached at /dev/vdc.")
    volume = cloud.cinder.get_volume(vol)
    row = _settled(actions.run("attach_host", cloud=cloud, actor=_actor(cloud.credentials), volume=volume,
                                               host_name="second-host", mountpoint="/dev/vdd", mode="rw"))
    assert (row.outcome, row.http_status, row.fault_name, row.detail) == (
        Outcome.REJECTED, 400, "badRequest", ALREADY_ATTACHED)
    row = _settled(actions.run("detach", cloud=cloud, actor=_actor(cloud.credentials), volume=volume,
                                          attachment_id=volume.attachments[0].attachment_id))
    assert (row.outcome, row.action, row.status_after, row.detail) == (
        Outcome.SUCCEEDED, actions.DETACH.name, "available", "Detached.")


# --- Nova: both clouds have Compute (tests/realcloud runs real Nova with its fake virt driver) ----------------
NOVA_ATTACHMENT_KEYS_2_100 = ["id", "serverId", "volumeId", "device", "tag", "delete_on_termination"]
NOVA_ATTACHMENT_KEYS_2_104 = ["volumeId", "serverId", "device", "tag", "delete_on_termination", "attachment_id",
                              "bdm_uuid"]
EVENT_KEYS = {"event", "start_time", "finish_time", "result", "hostId"}
ADMIN_EVENT_KEYS = EVENT_KEYS | {"traceback", "host", "details"}


def _wait_for(get: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = get()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"nothing after {timeout} s")


def test_nova_attach_at_2_101_and_later_answers_202_and_goes_reserved_attaching_in_use(cut: CloudUnderTest) -> None:
    vol, server = cut.make_volume(1), cut.server_id()
    r = cut.nova("POST", f"/servers/{server}/os-volume_attachments", version="2.104",
                 json={"volumeAttachment": {"volumeId": vol}})
    assert (r.status_code, r.content, r.headers["OpenStack-API-Version"]) == (202, b"", "compute 2.104")
    seen = cut.watch_volume(vol, settled=lambda v: v is not None and v["status"] not in
                            ("available", "reserved", "attaching"))
    # From 2.101 the whole attach is asynchronous: the volume may still be available when Nova answers, then
    # Nova reserves it through Cinder's attachments API, and the compute host connects it.
    order = ("available", "reserved", "attaching", "in-use")
    assert "reserved" in seen.statuses and seen.statuses[-1] == "in-use", seen.statuses
    assert seen.statuses == [s for s in order if s in seen.statuses], seen.statuses
    (att,) = seen.final["attachments"]
    # Cinder reports no host name for an attachment Nova made; the device is the hypervisor's name for it.
    assert att["server_id"] == server and att["host_name"] is None and att["device"].startswith("/dev/")
    listed = cut.nova("GET", f"/servers/{server}/os-volume_attachments", version="2.104").json()
    (bdm,) = [a for a in listed["volumeAttachments"] if a["volumeId"] == vol]
    assert list(bdm) == NOVA_ATTACHMENT_KEYS_2_104 and bdm["attachment_id"] == att["attachment_id"]
    assert bdm["device"] == att["device"]


def test_nova_attach_at_2_100_answers_200_with_the_attachment(cut: CloudUnderTest) -> None:
    vol, server = cut.make_volume(1), cut.server_id()
    r = cut.nova("POST", f"/servers/{server}/os-volume_attachments", version="2.100",
                 json={"volumeAttachment": {"volumeId": vol}})
    assert r.status_code == 200, r.text
    body = r.json()["volumeAttachment"]
    assert list(body) == NOVA_ATTACHMENT_KEYS_2_100 and (body["id"], body["serverId"], body["volumeId"]) == (
        vol, server, vol)
    # Up to 2.100 Nova reserved the volume before it answered.
    seen = cut.watch_volume(vol)
    assert seen.statuses[0] in ("reserved", "attaching") and seen.final["status"] == "in-use", seen.statuses
    # volpanel's client sends no compute version (2.1), where the answer is the same 200 with a body.
    volume = cut.get_volume(vol)
    assert volume and volume["attachments"][0]["device"] == body["device"]


def test_attach_through_nova_and_tenant_detach_is_refused(cut: CloudUnderTest) -> None:
    cloud = cut.cloud()
    vol = cut.make_volume(1)
    server = next(s for s in cloud.nova.list_servers() if s.status == "ACTIVE")
    attached = cloud.nova.attach_volume(server.id, vol)
    assert attached.volume_id == vol and attached.device
    seen = cut.watch_volume(vol)
    assert seen.statuses[-1] == "in-use" and set(seen.statuses) <= {"available", "reserved", "attaching", "in-use"}
    (att,) = seen.final["attachments"]
    assert att["server_id"] == server.id
    with pytest.raises(CloudError) as exc:
        cloud.cinder.detach(vol, att["attachment_id"])
    assert error(exc) == ("fault", 409, "conflictingRequest",
                          "ConflictNovaUsingAttachment: Detach volume from instance <id> using the Compute API")
    assert cut.get_volume(vol)["status"] == "in-use"
    cloud.nova.detach_volume(server.id, vol)
    assert cut.watch_volume(vol).final["attachments"] == []


def test_nova_detach_answers_202_and_goes_detaching_available(cut: CloudUnderTest) -> None:
    vol, server = cut.make_volume(1), cut.server_id()
    cut.nova_attach(vol, server)
    r = cut.nova("DELETE", f"/servers/{server}/os-volume_attachments/{vol}", version="2.104")
    assert (r.status_code, r.content) == (202, b"")
    seen = cut.watch_volume(vol)
    assert_sequence(seen, "detaching", "available")
    assert seen.final["attachments"] == []
    assert [a["action"] for a in cut.instance_actions(server, "detach_volume")][:1] == ["detach_volume"]
    listed = cut.nova("GET", f"/servers/{server}/os-volume_attachments", version="2.104").json()
    assert vol not in [a["volumeId"] for a in listed["volumeAttachments"]]


def test_extend_in_use_on_a_server_tells_nova_after_cinder_shows_in_use(cut: CloudUnderTest) -> None:
    vol, server = cut.make_volume(1), cut.server_id()
    cut.nova_attach(vol, server)
    before = {a["request_id"] for a in cut.instance_actions(server, "extend_volume")}
    r = cut.post_action(vol, {"os-extend": {"new_size": 2}}, "3.42")
    assert r.status_code == 202, r.text
    # Cinder shows in-use first; its volume-extended event reaches Nova afterwards (0.4–1.3 s on real Nova): each
    # time round, the volume is read before Nova's actions, so the first that shows the new action has in-use.
    statuses: list[str] = []

    def arrived() -> list[dict[str, Any]]:
        statuses.append(cut.get_volume(vol)["status"])
        return [a for a in cut.instance_actions(server, "extend_volume") if a["request_id"] not in before]
    (action,) = _wait_for(arrived)
    assert statuses[-1] == "in-use" and set(statuses) <= {"extending", "in-use"}, statuses
    # Recorded as Cinder's service user in the service project, not as the tenant who extended.
    assert action["user_id"] != cut.login().user_id and action["project_id"] != cut.project_id()
    path = f"/servers/{server}/os-instance-actions/{action['request_id']}"

    def events(user: str, project: str) -> list[dict[str, Any]]:
        shown = cut.nova("GET", path, version="2.104", user=user, project=project)
        assert shown.status_code == 200, shown.text
        return list(shown.json()["instanceAction"]["events"])

    # The action appears when Nova starts it; its one event gets a result once nova-compute has done it.
    _wait_for(lambda: [e for e in events("alice", "demo") if e["result"]])
    for user, project, keys in (("alice", "demo", EVENT_KEYS), ("admin", "admin", ADMIN_EVENT_KEYS)):
        (event,) = events(user, project)
        assert (event["event"], event["result"], set(event)) == ("compute_extend_volume", "Success", keys), event


def test_cinder_only_attach_to_a_server_is_unknown_to_nova_and_the_tenant_may_detach_it(cut: CloudUnderTest) -> None:
    vol, server = cut.make_volume(1), cut.server_id()
    r = cut.post_action(vol, {"os-attach": {"instance_uuid": server, "mountpoint": "/dev/vdz"}})
    assert (r.status_code, r.content) == (202, b"")
    seen = cut.watch_volume(vol)
    assert seen.final["status"] == "in-use"
    (att,) = seen.final["attachments"]
    assert (att["server_id"], att["device"]) == (server, "/dev/vdz")
    listed = cut.nova("GET", f"/servers/{server}/os-volume_attachments", version="2.104").json()
    assert vol not in [a["volumeId"] for a in listed["volumeAttachments"]]
    # Cinder still sends Nova the volume-extended event, and Nova still records the action.
    before = {a["request_id"] for a in cut.instance_actions(server, "extend_volume")}
    assert cut.post_action(vol, {"os-extend": {"new_size": 2}}, "3.42").status_code == 202
    assert_sequence(cut.watch_volume(vol), "extending", "in-use")
    _wait_for(lambda: [a for a in cut.instance_actions(server, "extend_volume") if a["request_id"] not in before])
    r = cut.post_action(vol, {"os-detach": {"attachment_id": att["attachment_id"]}})
    assert r.status_code == 202, r.text
    assert cut.watch_volume(vol).final["status"] == "available"


# --- shapes, force upload, quota, tokens, microversions ----------------------------------------------------
VOLUME_KEYS_3_0 = ["id", "status", "size", "availability_zone", "created_at", "updated_at", "name", "description",
                   "volume_type", "snapshot_id", "source_volid", "metadata", "links", "user_id", "bootable",
                   "encrypted", "replication_status", "consistencygroup_id", "multiattach", "attachments",
                   "os-vol-tenant-attr:tenant_id"]
VOLUME_KEYS_3_71 = VOLUME_KEYS_3_0[:-1] + ["group_id", "shared_targets", "service_uuid", "volume_type_id",
                                           "consumes_quota", "os-vol-tenant-attr:tenant_id"]
ATTACHMENT_KEYS = ["id", "attachment_id", "volume_id", "server_id", "host_name", "device", "attached_at"]
SNAPSHOT_KEYS_3_0 = ["id", "created_at", "updated_at", "name", "description", "volume_id", "status", "size",
                     "metadata", "os-extended-snapshot-attributes:project_id",
                     "os-extended-snapshot-attributes:progress"]
SNAPSHOT_KEYS_3_71 = SNAPSHOT_KEYS_3_0[:9] + ["group_snapshot_id", "user_id", "consumes_quota"] + SNAPSHOT_KEYS_3_0[9:]


def test_volume_attachment_and_snapshot_views(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    snap = cut.make_snapshot(vol)
    cut.attach_host(vol)
    sess, base = cut.session(), cut.volume_url()
    for version, volume_keys, snapshot_keys in (("3.0", VOLUME_KEYS_3_0, SNAPSHOT_KEYS_3_0),
                                                ("3.71", VOLUME_KEYS_3_71, SNAPSHOT_KEYS_3_71)):
        volume = cut.get_volume(vol, version=version)
        assert list(volume) == volume_keys, version
        assert [list(a) for a in volume["attachments"]] == [ATTACHMENT_KEYS], version
        r = sess.get(f"{base}/snapshots/{snap}", headers={"OpenStack-API-Version": f"volume {version}"})
        assert list(r.json()["snapshot"]) == snapshot_keys, version
    assert (volume["os-vol-tenant-attr:tenant_id"], volume["bootable"], volume["multiattach"]) == (
        cut.project_id(), "false", False)
    assert volume["created_at"].endswith(".000000") and volume["volume_type_id"] and volume["consumes_quota"]


def test_force_upload_of_an_in_use_volume(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    cut.attach_host(vol)
    r = cut.post_action(vol, {"os-volume_upload_image": {"image_name": "contract-force", "disk_format": "qcow2",
                                                         "force": True}})
    assert r.status_code == 202, r.text
    body = r.json()["os-volume_upload_image"]
    cut.track_image(body["image_id"])
    assert (body["status"], body["visibility"], body["protected"]) == ("uploading", "shared", False)
    assert_sequence(cut.watch_volume(vol), "uploading", "in-use")
    image = cut.watch(lambda: cut.get_image(body["image_id"])).final
    assert image and (image["status"], image["visibility"], image["disk_format"]) == ("active", "shared", "qcow2")


def test_extend_over_the_gigabytes_quota(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    r = cut.post_action(vol, {"os-extend": {"new_size": 5000}})
    status, name, message = fault(r)
    assert (status, name) == (413, "overLimit")
    assert re.fullmatch(r"VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes "
                        r"quota\. Requested 4999G, quota is \d+G and \d+G has been consumed\.", message), message
    assert r.json()["overLimit"]["retryAfter"] == "0" and r.headers["Retry-After"] == "0"


def test_no_token_or_a_bad_one(cut: CloudUnderTest) -> None:
    import requests

    vol = cut.make_volume(1)
    url = f"{cut.volume_url()}/volumes/{vol}/action"
    keystone_root = cut.config.auth_url.rstrip("/").removesuffix("/v3")
    for headers in ({}, {"X-Auth-Token": "gAAAAAnot-a-token"}):
        r = requests.post(url, json={"os-extend": {"new_size": 2}}, headers=headers, timeout=30)
        assert r.status_code == 401
        assert r.json() == {"error": {"code": 401, "title": "Unauthorized",
                                      "message": "The request you have made requires authentication."}}
        # keystonemiddleware's www_authenticate_uri is deployment config (capture 64: the root; this rig: /v3):
        # what both must do is name this cloud's Keystone.
        uri = re.fullmatch(r'Keystone uri="([^"]+)"', r.headers["WWW-Authenticate"]).group(1)
        assert uri.rstrip("/") in (keystone_root, cut.config.auth_url.rstrip("/"))
        doc = requests.get(uri, timeout=10)
        assert doc.status_code in (200, 300) and "identity" in doc.text
        assert "OpenStack-API-Version" not in r.headers and REQ_RE.match(r.headers["x-openstack-request-id"])
    assert cut.get_volume(vol)["size"] == 1


def test_unsupported_and_malformed_microversions(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    assert fault(cut.post_action(vol, {"os-extend": {"new_size": 2}}, "3.999"), "3.999") == (
        406, "computeFault", "Version 3.999 is not supported by the API. Minimum is 3.0 and maximum is 3.71.")
    r = cut.post_action(vol, {"os-extend": {"new_size": 2}}, "three")
    assert r.status_code == 400 and "OpenStack-API-Version" not in r.headers
    assert r.json() == {"badRequest": {"code": 400, "message": "API Version String three is of invalid format. "
                                                                "Must be of format MajorNum.MinorNum."}}
    assert cut.get_volume(vol)["size"] == 1


# --- more of the state machine ---------------------------------------------------------------------------
def test_detach_without_id_and_detach_twice(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    attachment_id = cut.attach_host(vol)
    r = cut.post_action(vol, {"os-detach": {}})
    assert r.status_code == 202 and r.content == b""
    assert_sequence(cut.watch_volume(vol), "detaching", "available")
    r = cut.post_action(vol, {"os-detach": {"attachment_id": attachment_id}})
    assert fault(r) == (409, "conflictingRequest", NOVA_CONFLICT)


def test_retype_an_in_use_volume_and_back_on_demand(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    cut.attach_host(vol)
    cinder = cut.cloud().cinder
    cinder.retype(vol, "gold", "never")
    seen = cut.watch_volume(vol)
    assert_sequence(seen, "retyping", "in-use")
    assert seen.final["volume_type"] == "gold"
    cinder.retype(vol, "default", "on-demand")
    seen = cut.watch_volume(vol)
    assert_sequence(seen, "retyping", "in-use")
    assert seen.final["volume_type"] == "default"


def test_revert_refusals_by_snapshot(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    bare = cut.make_volume(1)
    snap = cut.make_snapshot(vol)
    cinder = cut.cloud().cinder
    with pytest.raises(CloudError) as exc:
        cinder.revert(vol, str(uuid.uuid4()))
    assert error(exc) == ("fault", 400, "badRequest",
                          "Specified snapshot <id> is None or not the latest one of volume <id>.")
    with pytest.raises(CloudError) as exc:
        cinder.revert(bare, snap)
    assert error(exc) == ("fault", 400, "badRequest", "Volume <id> doesn't have any snapshots.")
    cinder.extend(vol, 2, in_use=False)
    assert cut.watch_volume(vol).final["size"] == 2
    with pytest.raises(CloudError) as exc:
        cinder.revert(vol, snap)
    assert error(exc) == ("fault", 400, "badRequest", "Can't revert volume <id> to its latest snapshot <id>. The "
                                                      "volume size must be equal to the snapshot size.")
    assert cut.get_volume(vol)["status"] == "available"


def test_policy_refusals_for_a_member(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    r = cut.post_action(vol, {"os-volume_upload_image": {"image_name": "contract-public", "visibility": "public"}},
                        "3.1")
    assert fault(r, "3.1") == (403, "forbidden", "Policy doesn't allow volume_extension:volume_actions:"
                                                 "upload_public to be performed.")
    r = cut.post_action(vol, {"os-reset_status": {"status": "error"}})
    assert fault(r) == (403, "forbidden", "Policy doesn't allow volume_extension:volume_admin_actions:"
                                          "reset_status to be performed.")
    assert cut.get_volume(vol)["status"] == "available"


def test_extend_a_volume_an_admin_set_to_error(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    cut._admin_reset(vol, status="error")
    assert cut.get_volume(vol)["status"] == "error"
    with pytest.raises(CloudError) as exc:
        cut.cloud().cinder.extend(vol, 2, in_use=False)
    assert error(exc) == ("fault", 400, "badRequest", "Invalid volume: Volume <id> status must be "
                                                      "'{'status': 'available'}' to extend, currently error.")
    cut._admin_reset(vol, status="available")


@pytest.mark.django_db(transaction=True)
def test_services_upload_and_revert_record_success(cut: CloudUnderTest) -> None:
    from volpanel.audit.models import Outcome

    vol = cut.make_volume(1)
    snap = cut.make_snapshot(vol)
    cloud = cut.cloud()
    row = _settled(actions.run("upload",
        cloud=cloud, actor=_actor(cloud.credentials), volume=cloud.cinder.get_volume(vol),
        image_name="contract-audit", disk_format="qcow2", container_format="bare", visibility="private",
        protected=False))
    cut.track_image(row.image_id)
    assert (row.outcome, row.microversion, row.status_after, row.detail) == (
        Outcome.SUCCEEDED, "3.1", "available", "Image contract-audit is active.")
    assert cut.get_image(row.image_id)["status"] == "active"
    row = _settled(actions.run("revert", cloud=cloud, actor=_actor(cloud.credentials),
                                          volume=cloud.cinder.get_volume(vol), snapshot_id=snap))
    assert (row.outcome, row.microversion, row.status_after, row.detail) == (
        Outcome.SUCCEEDED, "3.40", "available", "The volume was reverted to the snapshot.")


# --- edit: PUT /volumes/{id} (captured from real Cinder 29) -----------------------------------------------
def _put(cut: CloudUnderTest, volume_id: str, body: Any, version: str) -> Any:
    return cut.session().put(f"{cut.volume_url()}/volumes/{volume_id}", json=body,
                             headers={"OpenStack-API-Version": f"volume {version}"}, raise_exc=False)


def test_rename_and_describe(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    r = _put(cut, vol, {"volume": {"name": "  renamed  ", "description": "a new description"}}, "3.0")
    assert r.status_code == 200 and REQ_RE.match(r.headers["x-openstack-request-id"])
    shown = r.json()["volume"]
    # Stripped, and the answer is the volume's detail view: a GET's keys but the tenant attribute.
    assert (shown["name"], shown["description"], shown["status"]) == ("renamed", "a new description", "available")
    assert set(shown) == set(cut.get_volume(vol) or {}) - {"os-vol-tenant-attr:tenant_id"}
    # Up to 255 characters once stripped; an empty body is fine before 3.53 and refused from it.
    assert _put(cut, vol, {"volume": {"name": "  " + "z" * 255 + "  "}}, "3.71").status_code == 200
    assert _put(cut, vol, {"volume": {}}, "3.0").status_code == 200
    refused = {
        "empty-3.71": ({"volume": {}}, "Invalid input for field/attribute volume. Value: {}. {} is not valid under "
                                       "any of the given schemas"),
        "name-256": ({"volume": {"name": "x" * 256}}, "Invalid input received: name has 256 characters, more than "
                                                      "255."),
        "description-256": ({"volume": {"description": "y" * 256}}, "Invalid input received: description has 256 "
                                                                    "characters, more than 255."),
        "extra-key": ({"volume": {"name": "a", "size": 3}}, "Invalid input for field/attribute volume. Value: "
                                                            "{'name': 'a', 'size': 3}. Additional properties are not "
                                                            "allowed ('size' was unexpected)"),
        "name-int": ({"volume": {"name": 5}}, "Invalid input for field/attribute name. Value: 5. 5 is not of type "
                                              "'string', 'null'"),
        "no-volume-key": ({"name": "a"}, "'volume' is a required property"),
    }
    answers = {case: fault(_put(cut, vol, body, "3.71"), "3.71") for case, (body, _) in refused.items()}
    assert answers == {case: (400, "badRequest", message) for case, (_, message) in refused.items()}
    final = cut.get_volume(vol) or {}
    assert (final["name"], final["description"]) == ("z" * 255, "a new description")
    # Another project's volume is not found, as for every other call.
    other = cut.session("bob", "other").put(f"{cut.volume_url('bob', 'other')}/volumes/{vol}",
                                            json={"volume": {"name": "bob"}}, raise_exc=False)
    assert other.status_code == 404 and other.json()["itemNotFound"]["message"] == f"Volume {vol} could not be found."


@pytest.mark.django_db(transaction=True)
def test_services_edit_records_success_and_refusal(cut: CloudUnderTest) -> None:
    from volpanel.audit.models import Outcome

    vol = cut.make_volume(1)
    cloud = cut.cloud()
    row = _settled(actions.run("edit", cloud=cloud, actor=_actor(cloud.credentials),
                               volume=cloud.cinder.get_volume(vol), name="db-data", description="postgres"))
    assert (row.outcome, row.http_status, row.action, row.detail) == (
        Outcome.SUCCEEDED, 200, "volume-update", "The volume is now named db-data.")
    row = _settled(actions.run("edit", cloud=cloud, actor=_actor(cloud.credentials),
                               volume=cloud.cinder.get_volume(vol), name="n" * 256, description=""))
    assert (row.outcome, row.http_status, row.fault_name, row.detail) == (
        Outcome.REJECTED, 400, "badRequest", "Invalid input received: name has 256 characters, more than 255.")
    assert (cut.get_volume(vol) or {})["name"] == "db-data"


# --- bootable: os-set_bootable (captured from real Cinder 29) ---------------------------------------------
def test_set_bootable(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    result = cut.cloud().cinder.set_bootable(vol, True)
    assert (result.status, result.body) == (200, {}) and REQ_RE.match(result.request_id)
    assert (cut.get_volume(vol) or {})["bootable"] == "true"  # set when Cinder answers: no status moves
    r = cut.post_action(vol, {"os-set_bootable": {"bootable": "false"}}, "3.71")
    assert (r.status_code, r.content) == (200, b"") and (cut.get_volume(vol) or {})["bootable"] == "false"
    assert fault(cut.post_action(vol, {"os-set_bootable": {}}, "3.71"), "3.71") == (
        400, "badRequest", "Invalid input for field/attribute os-set_bootable. Value: {}. 'bootable' is a required "
                           "property")
    status, name, message = fault(cut.post_action(vol, {"os-set_bootable": {"bootable": "maybe"}}, "3.71"), "3.71")
    assert (status, name) == (400, "badRequest")
    assert message.startswith("Invalid input for field/attribute bootable. Value: maybe. 'maybe' is not one of [True,")


@pytest.mark.django_db(transaction=True)
def test_services_set_bootable_records_success(cut: CloudUnderTest) -> None:
    from volpanel.audit.models import Outcome

    vol = cut.make_volume(1)
    cloud = cut.cloud()
    row = _settled(actions.run("bootable", cloud=cloud, actor=_actor(cloud.credentials),
                               volume=cloud.cinder.get_volume(vol), bootable=True))
    assert (row.outcome, row.http_status, row.action, row.detail, row.parameters) == (
        Outcome.SUCCEEDED, 200, "os-set_bootable", "The volume is now bootable.",
        {"bootable": True, "was_bootable": False})


# --- take a snapshot: POST /snapshots (captured from real Cinder 29: tests/realcloud/captures/101-110) ------------
def _post_snapshot(cut: CloudUnderTest, body: Any, version: str = "3.0") -> Any:
    return cut.session().post(f"{cut.volume_url()}/snapshots", json=body,
                              headers={"OpenStack-API-Version": f"volume {version}"}, raise_exc=False)


def test_take_a_snapshot(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    result = cut.cloud().cinder.create_snapshot(vol, name="  nightly  ", description=" before ", force=False)
    assert (result.status, result.microversion) == (202, "3.0") and REQ_RE.match(result.request_id)
    snap = result.body["snapshot"]
    assert {k: snap[k] for k in ("name", "description", "volume_id", "status", "size", "metadata")} == {
        "name": "nightly", "description": "before", "volume_id": vol, "status": "creating", "size": 1,
        "metadata": {}}
    assert_sequence(cut.watch(lambda: cut.get_snapshot(snap["id"])), "creating", "available")
    assert (cut.get_volume(vol) or {})["status"] == "available"  # the volume never moves
    status, name, message = fault(_post_snapshot(cut, {"snapshot": {"volume_id": vol, "name": "x" * 256}}))
    assert (status, name) == (400, "badRequest") and message.startswith("Invalid input for field/attribute name.")
    assert message.endswith("is too long")
    # A description must be printable (Cinder's character class of 980 characters, quoted whole in the answer).
    r = _post_snapshot(cut, {"snapshot": {"volume_id": vol, "name": "a\x07b", "description": "line\nbreak"}})
    message = r.json()["badRequest"]["message"]
    assert r.status_code == 400 and message.startswith(
        "Invalid input for field/attribute description. Value: line\nbreak. 'line\\nbreak' does not match "
        "'^[\\\\ -\\\\~")
    assert message.endswith("]*$'") and len(message) > 1000
    for text in ("\U0001f600", "\u202e", "\x80", "\u2028"):  # beyond the basic plane, format, C1 control, separator
        r = _post_snapshot(cut, {"snapshot": {"volume_id": vol, "description": text}})
        assert r.status_code == 400, (text, r.text[:200])
        assert r.json()["badRequest"]["message"].startswith("Invalid input for field/attribute description.")
    status, name, message = fault(_post_snapshot(cut, {"snapshot": {"volume_id": vol, "force": "maybe"}}))
    assert (status, name) == (400, "badRequest")
    assert message.startswith("Invalid input for field/attribute force. Value: maybe. 'maybe' is not one of [True,")


def test_snapshot_an_in_use_volume(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    cut.attach_host(vol)
    assert fault(_post_snapshot(cut, {"snapshot": {"volume_id": vol}})) == (
        400, "badRequest", "Invalid volume: Volume <id> status must be available, but current status is: in-use.")
    assert fault(_post_snapshot(cut, {"snapshot": {"volume_id": vol, "force": False}}, "3.66"), "3.66") == (
        400, "badRequest", "Since microversion 3.66 the 'force' flag is invalid for this request.  For backward "
                           "compatability, however, when the 'force' flag is passed with a value evaluating to "
                           "True, it is silently ignored.")
    result = cut.cloud().cinder.create_snapshot(vol, name="hot", description="", force=True)
    assert result.status == 202
    assert_sequence(cut.watch(lambda: cut.get_snapshot(result.body["snapshot"]["id"])), "creating", "available")
    assert (cut.get_volume(vol) or {})["status"] == "in-use"


@pytest.mark.django_db(transaction=True)
def test_services_take_snapshot_is_judged_by_the_snapshot_and_revert_follows(cut: CloudUnderTest) -> None:
    from volpanel.audit.models import Outcome

    vol = cut.make_volume(1)
    cloud = cut.cloud()
    row = _settled(actions.run("snapshot", cloud=cloud, actor=_actor(cloud.credentials),
                               volume=cloud.cinder.get_volume(vol), name="nightly", description=""))
    assert (row.outcome, row.http_status, row.action, row.detail, row.status_after) == (
        Outcome.SUCCEEDED, 202, "snapshot-create", "Snapshot nightly is available.", "available")
    assert (cut.get_snapshot(row.snapshot_id) or {})["status"] == "available"
    # The snapshot just taken is the latest: revert to it works with nothing but volpanel.
    row = _settled(actions.run("revert", cloud=cloud, actor=_actor(cloud.credentials),
                               volume=cloud.cinder.get_volume(vol), snapshot_id=row.snapshot_id))
    assert (row.outcome, row.action) == (Outcome.SUCCEEDED, "revert")


# --- delete a snapshot: DELETE /snapshots/{id} (captured: tests/realcloud/captures/111-116) ----------------------
def test_delete_a_snapshot(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    snap = cut.make_snapshot(vol)
    result = cut.cloud().cinder.delete_snapshot(snap)
    assert (result.status, result.body) == (202, {}) and REQ_RE.match(result.request_id)
    assert_sequence(cut.watch(lambda: cut.get_snapshot(snap)), "deleting", "<gone>")
    assert cut.cloud().cinder.find_snapshot(snap) is None
    with pytest.raises(CloudError) as exc:
        cut.cloud().cinder.delete_snapshot(snap)
    assert error(exc) == ("fault", 404, "itemNotFound", "Snapshot <id> could not be found.")
    creating = _post_snapshot(cut, {"snapshot": {"volume_id": vol}}).json()["snapshot"]["id"]
    r = cut.session().delete(f"{cut.volume_url()}/snapshots/{creating}", raise_exc=False)
    if r.status_code == 400:  # still creating (the real cloud may already be done: ~40 ms)
        assert fault(r) == (400, "badRequest", "Invalid snapshot: Snapshot status must be available or error and "
                                               "must not be part of a group.")
    cut.watch(lambda: cut.get_snapshot(creating))


def test_delete_a_snapshot_a_volume_was_made_from(cut: CloudUnderTest) -> None:
    # Cinder's API does not look for volumes made from the snapshot: whether it may go is the backend's call (an
    # LVM-thin or RBD driver answers SnapshotIsBusy and puts it back to available; the rig's driver copies
    # data, so the snapshot goes).
    vol = cut.make_volume(1)
    snap = cut.make_snapshot(vol)
    r = cut.session().post(f"{cut.volume_url()}/volumes", json={"volume": {"size": 1, "snapshot_id": snap}},
                           raise_exc=False)
    assert r.status_code == 202, r.text
    child = r.json()["volume"]["id"]
    cut._volumes.append((("alice", "demo"), child))
    seen = cut.watch_volume(child)
    assert seen.final and (seen.final["status"], seen.final["snapshot_id"]) == ("available", snap)
    result = cut.cloud().cinder.delete_snapshot(snap)
    assert result.status == 202
    assert_sequence(cut.watch(lambda: cut.get_snapshot(snap)), "deleting", "<gone>")


@pytest.mark.django_db(transaction=True)
def test_services_delete_snapshot_is_judged_when_the_snapshot_is_gone(cut: CloudUnderTest) -> None:
    from volpanel.audit.models import Outcome

    vol = cut.make_volume(1)
    snap = cut.make_snapshot(vol)
    cloud = cut.cloud()
    row = _settled(actions.run("delete_snapshot", cloud=cloud, actor=_actor(cloud.credentials),
                               volume=cloud.cinder.get_volume(vol), snapshot_id=snap, was_latest=True))
    assert (row.outcome, row.http_status, row.action, row.snapshot_id, row.detail) == (
        Outcome.SUCCEEDED, 202, "snapshot-delete", snap, "The snapshot was deleted.")


# --- read-only: os-update_readonly_flag (captured: tests/realcloud/captures/117-124) ----------------------------
def test_update_readonly_flag(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    result = cut.cloud().cinder.update_readonly_flag(vol, True)
    assert (result.status, result.body) == (202, {}) and REQ_RE.match(result.request_id)
    assert (cut.get_volume(vol) or {})["metadata"]["readonly"] == "True"  # set when Cinder answers
    assert cut.cloud().cinder.get_volume(vol).readonly is True
    assert fault(cut.post_action(vol, {"os-update_readonly_flag": {}})) == (
        400, "badRequest", "Invalid input for field/attribute os-update_readonly_flag. Value: {}. 'readonly' is a "
                           "required property")
    status, name, message = fault(cut.post_action(vol, {"os-update_readonly_flag": {"readonly": "maybe"}}))
    assert (status, name) == (400, "badRequest")
    assert message.startswith("Invalid input for field/attribute readonly. Value: maybe. 'maybe' is not one of [True,")
    # A read-only volume attaches read-only only.
    assert fault(cut.post_action(vol, {"os-attach": {"host_name": "ro-host", "mountpoint": "/dev/vdd"}})) == (
        400, "badRequest", "Invalid attaching mode 'rw' for volume <id>.")
    r = cut.post_action(vol, {"os-attach": {"host_name": "ro-host", "mountpoint": "/dev/vdd", "mode": "ro"}})
    assert r.status_code == 202, r.text
    seen = cut.watch_volume(vol)
    assert seen.final and seen.final["status"] == "in-use"
    assert {k: seen.final["metadata"].get(k) for k in ("readonly", "attached_mode")} == {
        "readonly": "True", "attached_mode": "ro"}
    assert fault(cut.post_action(vol, {"os-update_readonly_flag": {"readonly": "false"}})) == (
        400, "badRequest", "Invalid volume: Volume <id> status must be available to update readonly flag, but "
                           "current status is: in-use.")


@pytest.mark.django_db(transaction=True)
def test_services_set_readonly_records_success(cut: CloudUnderTest) -> None:
    from volpanel.audit.models import Outcome

    vol = cut.make_volume(1)
    cloud = cut.cloud()
    row = _settled(actions.run("readonly", cloud=cloud, actor=_actor(cloud.credentials),
                               volume=cloud.cinder.get_volume(vol), readonly=True))
    assert (row.outcome, row.http_status, row.action, row.detail, row.parameters) == (
        Outcome.SUCCEEDED, 202, "os-update_readonly_flag", "The volume is now read-only.",
        {"readonly": True, "was_readonly": False})
    row = _settled(actions.run("readonly", cloud=cloud, actor=_actor(cloud.credentials),
                               volume=cloud.cinder.get_volume(vol), readonly=False))
    assert (row.outcome, row.detail) == (Outcome.SUCCEEDED, "The volume is now read/write.")
    assert (cut.get_volume(vol) or {})["metadata"]["readonly"] == "False"


def test_revoking_a_token_revokes_the_tokens_rescoped_from_it_unless_cascade_is_false(cut: CloudUnderTest) -> None:
    """Keystone 30: DELETE /v3/auth/tokens also revokes every token whose audit chain starts at the subject
    (rescoped from it), unless `?cascade=false`. volpanel revokes a token it replaced by rescoping without
    cascading, and the one a session ends with with it."""
    import requests

    keystone = cut.config.auth_url.rstrip("/")

    def password_token() -> str:
        r = requests.post(f"{keystone}/auth/tokens", timeout=30, json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "carol", "domain": {"name": "Default"}, "password": "demo"}}},
            "scope": {"project": {"name": "demo", "domain": {"name": "Default"}}}}})
        assert r.status_code == 201, r.text
        return r.headers["X-Subject-Token"]

    def rescoped(token: str) -> str:
        r = requests.post(f"{keystone}/auth/tokens", timeout=30, json={"auth": {
            "identity": {"methods": ["token"], "token": {"id": token}},
            "scope": {"project": {"name": "other", "domain": {"name": "Default"}}}}})
        assert r.status_code == 201, r.text
        assert r.json()["token"]["audit_ids"][1:] == [
            requests.get(f"{keystone}/auth/tokens", timeout=30, headers={
                "X-Auth-Token": token, "X-Subject-Token": token}).json()["token"]["audit_ids"][-1]]
        return r.headers["X-Subject-Token"]

    def status(token: str, caller: str) -> int:
        return requests.get(f"{keystone}/auth/tokens", timeout=30,
                            headers={"X-Auth-Token": caller, "X-Subject-Token": token}).status_code

    for query, child_after in (("?cascade=false", 200), ("", 404)):
        root = password_token()
        child = rescoped(root)
        r = requests.delete(f"{keystone}/auth/tokens{query}", timeout=30,
                            headers={"X-Auth-Token": root, "X-Subject-Token": root})
        assert r.status_code == 204, r.text
        watcher = password_token()
        assert (status(root, watcher), status(child, watcher)) == (404, child_after), query


# --- image metadata: os-set_image_metadata / os-unset_image_metadata (captured: tests/realcloud/captures/125-139) ----
def test_set_and_unset_image_metadata(cut: CloudUnderTest) -> None:
    vol = cut.make_volume(1)
    assert "volume_image_metadata" not in (cut.get_volume(vol) or {})  # shown only when there is some
    result = cut.cloud().cinder.set_image_metadata(vol, {"os_distro": "debian", "hw_disk_bus": "scsi"})
    assert (result.status, result.body) == (200, {"metadata": {"os_distro": "debian", "hw_disk_bus": "scsi"}})
    assert REQ_RE.match(result.request_id)
    assert (cut.get_volume(vol) or {})["volume_image_metadata"] == {"os_distro": "debian", "hw_disk_bus": "scsi"}
    assert cut.cloud().cinder.get_volume(vol).image_metadata == (("hw_disk_bus", "scsi"), ("os_distro", "debian"))
    # Cinder protects no key, keeps control characters in a value, and answers with every key it has.
    r = cut.post_action(vol, {"os-set_image_metadata": {"metadata": {"image_id": "x", "note": "a\u0007b"}}})
    assert (r.status_code, r.json()["metadata"]) == (200, {"os_distro": "debian", "hw_disk_bus": "scsi",
                                                           "image_id": "x", "note": "a\u0007b"})
    assert fault(cut.post_action(vol, {"os-set_image_metadata": {"metadata": {"bad*key": "x"}}})) == (
        400, "badRequest", "Invalid input for field/attribute metadata. Value: {'bad*key': 'x'}. 'bad*key' does not "
                           "match any of the regexes: '^[a-zA-Z0-9-_:. /]{1,255}$'")
    assert fault(cut.post_action(vol, {"os-set_image_metadata": {"metadata": {"num": 1}}})) == (
        400, "badRequest", "Invalid input for field/attribute num. Value: 1. 1 is not of type 'string'")
    status, name, message = fault(cut.post_action(vol, {"os-set_image_metadata": {"metadata": {"k" * 256: "x"}}}))
    assert (status, name) == (400, "badRequest") and message.endswith("' does not match any of the regexes: "
                                                                       "'^[a-zA-Z0-9-_:. /]{1,255}$'")
    status, name, message = fault(cut.post_action(vol, {"os-set_image_metadata": {"metadata": {"big": "v" * 65536}}}))
    assert (status, name, message[-24:]) == (400, "badRequest", "v' is not a 'mysql_text'")
    assert fault(cut.post_action(vol, {"os-set_image_metadata": {}})) == (
        400, "badRequest", "Invalid input for field/attribute os-set_image_metadata. Value: {}. 'metadata' is a "
                           "required property")
    # Unset: 200 with no body; a key the volume does not have is 404.
    result = cut.cloud().cinder.unset_image_metadata(vol, "hw_disk_bus")
    assert (result.status, result.body) == (200, {})
    assert "hw_disk_bus" not in (cut.get_volume(vol) or {})["volume_image_metadata"]
    assert fault(cut.post_action(vol, {"os-unset_image_metadata": {"key": "nope"}})) == (
        404, "itemNotFound", "Glance metadata for volume/snapshot <id> cannot be found.")
    status, name, message = fault(cut.post_action(vol, {"os-unset_image_metadata": {"key": "k" * 256}}))
    assert (status, name, message[-13:]) == (400, "badRequest", "' is too long")
    # Allowed while in use; another project's member does not find the volume.
    cut.attach_host(vol)
    assert cut.post_action(vol, {"os-set_image_metadata": {"metadata": {"purpose": "in use"}}}).status_code == 200
    assert fault(cut.post_action(vol, {"os-set_image_metadata": {"metadata": {"x": "y"}}}, user="bob",
                                 project="other")) == (404, "itemNotFound", "Volume <id> could not be found.")


@pytest.mark.django_db(transaction=True)
def test_services_set_and_unset_image_property_record_success(cut: CloudUnderTest) -> None:
    from volpanel.audit.models import Outcome

    vol = cut.make_volume(1)
    cloud = cut.cloud()
    row = _settled(actions.run("image_metadata", cloud=cloud, actor=_actor(cloud.credentials),
                               volume=cloud.cinder.get_volume(vol), key="os_distro", value="debian"))
    assert (row.outcome, row.http_status, row.action, row.detail, row.parameters) == (
        Outcome.SUCCEEDED, 200, "os-set_image_metadata", "Image property os_distro is set.",
        {"key": "os_distro", "value": "debian", "old_value": None})
    row = _settled(actions.run("unset_image_metadata", cloud=cloud, actor=_actor(cloud.credentials),
                               volume=cloud.cinder.get_volume(vol), key="os_distro"))
    assert (row.outcome, row.http_status, row.action, row.detail) == (
        Outcome.SUCCEEDED, 200, "os-unset_image_metadata", "Image property os_distro is removed.")
    assert "volume_image_metadata" not in (cut.get_volume(vol) or {})
    row = actions.run("unset_image_metadata", cloud=cloud, actor=_actor(cloud.credentials),
                      volume=cloud.cinder.get_volume(vol), key="os_distro")
    assert (row.outcome, row.http_status, row.fault_name) == (
        Outcome.REJECTED, 404, "itemNotFound")


# --- reimage: os-reimage at 3.68 (captured: tests/realcloud/captures/140-147) ----------------------------------
def test_reimage(cut: CloudUnderTest) -> None:
    (image, *_) = cut.cloud().glance.list_images()
    assert image.status == "active"
    vol = cut.make_volume(1)
    assert fault(cut.post_action(vol, {"os-reimage": {"image_id": image.id}})) == (
        404, "itemNotFound", "The resource could not be found.")  # below 3.68
    assert fault(cut.post_action(vol, {"os-reimage": {"image_id": "nope"}}, "3.68"), "3.68") == (
        400, "badRequest", "Invalid input for field/attribute image_id. Value: nope. 'nope' is not a 'uuid'")
    assert fault(cut.post_action(vol, {"os-reimage": {"image_id": "3fa38c0e-2fa7-4244-aba7-bdf63a609ee7"}},
                                 "3.68"), "3.68") == (404, "itemNotFound", "Image <id> could not be found.")
    status, name, message = fault(cut.post_action(
        vol, {"os-reimage": {"image_id": image.id, "reimage_reserved": "maybe"}}, "3.68"), "3.68")
    assert (status, name) == (400, "badRequest")
    assert message.startswith("Invalid input for field/attribute reimage_reserved. Value: maybe. 'maybe' is not one")
    result = cut.cloud().cinder.reimage(vol, image.id)
    assert (result.status, result.body, result.microversion) == (202, {}, "3.68") and REQ_RE.match(result.request_id)
    seen = cut.watch_volume(vol)
    assert_sequence(seen, "downloading", "available")
    assert seen.final is not None and seen.final["bootable"] == "true"
    assert {k: seen.final["volume_image_metadata"][k] for k in ("image_id", "image_name")} == {
        "image_id": image.id, "image_name": image.name}
    # Only available or error: an attached volume is refused.
    cut.attach_host(vol)
    assert fault(cut.post_action(vol, {"os-reimage": {"image_id": image.id}}, "3.68"), "3.68") == (
        400, "badRequest", "Invalid volume: Volume <id> status must be available or error, but current status is "
                           "in-use.")


@pytest.mark.django_db(transaction=True)
def test_services_reimage_records_success(cut: CloudUnderTest) -> None:
    from volpanel.audit.models import Outcome

    cloud = cut.cloud()
    (image, *_) = cloud.glance.list_images()
    vol = cut.make_volume(1)
    row = _settled(actions.run("reimage", cloud=cloud, actor=_actor(cloud.credentials),
                               volume=cloud.cinder.get_volume(vol), image_id=image.id, image_name=image.name))
    assert (row.outcome, row.http_status, row.action, row.microversion, row.detail) == (
        Outcome.SUCCEEDED, 202, "os-reimage", "3.68", f"The volume now holds image {image.name}.")


# --- admin actions (issue 16) --------------------------------------------------------------------------------
def test_reset_status_by_an_admin_of_another_project(cut: CloudUnderTest) -> None:
    """Captures 190-203: admin (project admin) resets alice's volume through its own project's URL."""
    vol = cut.make_volume(1)
    admin = cut.cloud("admin", "admin").cinder
    # A member is refused by policy before anything changes (capture 190).
    r = cut.post_action(vol, {"os-reset_status": {"status": "error"}})
    assert fault(r) == (403, "forbidden", "Policy doesn't allow volume_extension:volume_admin_actions:"
                                          "reset_status to be performed.")
    result = admin.reset_status(vol, status="error_extending")
    assert (result.status, result.body) == (202, {})
    seen = admin.get_volume(vol)  # the volume of another project, with the facts Cinder gives admins only
    assert (seen.status, seen.project_id, seen.migration_status) == (
        "error_extending", cut.project_id(), "")
    assert seen.host
    for given, expected in [
        ({"status": "bogus"}, "Volume status: bogus is invalid, valid statuses are: ('creating', 'available', "
                              "'deleting', 'error', 'error_deleting', 'error_managing', 'managing', 'attaching', "
                              "'in-use', 'detaching', 'maintenance', 'restoring-backup', 'error_restoring', "
                              "'reserved', 'awaiting-transfer', 'backing-up', 'error_backing-up', "
                              "'error_extending', 'downloading', 'uploading', 'retyping', 'extending')."),
        ({"status": "deleting"}, "Cannot reset-state to deleting"),
        ({"status": "in-use"}, "Cannot reset-state to in-use because volume does not have any attachments."),
        ({}, "Must specify 'status', 'attach_status' or 'migration_status' for update."),
        ({"attach_status": "attaching"}, "Volume attach status: attaching is invalid, valid statuses are: "
                                         "['attached', 'detached']."),
        ({"migration_status": "bogus"}, "Volume migration status: bogus is invalid, valid statuses are: "
                                        "('migrating', 'error', 'success', 'completing', 'none', 'starting')."),
    ]:
        with pytest.raises(CloudError) as exc:
            admin.reset_status(vol, **given)
        assert error(exc) == ("fault", 400, "badRequest", expected), given
    r = cut.post_action(vol, {"os-reset_status": {"status": "available", "reason": "x"}}, user="admin",
                        project="admin")
    assert fault(r) == (400, "badRequest", "Invalid input for field/attribute os-reset_status. Value: {'status': "
                                           "'available', 'reason': 'x'}. Additional properties are not allowed "
                                           "('reason' was unexpected)")
    assert admin.get_volume(vol).status == "error_extending"
    with pytest.raises(CloudError) as exc:
        admin.reset_status(str(uuid.uuid4()), status="available")
    assert error(exc) == ("fault", 404, "itemNotFound", "Volume <id> could not be found.")
    admin.reset_status(vol, status="available", attach_status="detached", migration_status="none")
    assert cut.get_volume(vol)["status"] == "available"


@pytest.mark.django_db(transaction=True)
def test_services_reset_status_records_the_admin_the_reason_and_the_volume_s_project(cut: CloudUnderTest) -> None:
    from volpanel.audit.models import Outcome

    vol = cut.make_volume(1)
    cut._admin_reset(vol, status="error_extending")
    cloud = cut.cloud("admin", "admin")
    row = _settled(actions.run("reset_status", cloud=cloud, actor=_actor(cloud.credentials),
                               volume=cloud.cinder.get_volume(vol), status="available", attach_status="",
                               migration_status="", reason="contract: back to available", repairs=None))
    assert (row.outcome, row.http_status, row.action, row.detail, row.reason) == (
        Outcome.SUCCEEDED, 202, "os-reset_status", "The volume's status is now available.",
        "contract: back to available")
    assert (row.project_id, row.volume_project_id, row.is_admin) == (
        cut.project_id("admin", "admin"), cut.project_id(), True)
    # A member's attempt is audited as Cinder's refusal, and changes nothing.
    member = cut.cloud()
    row = actions.run("reset_status", cloud=member, actor=_actor(member.credentials),
                      volume=member.cinder.get_volume(vol), status="error", attach_status="", migration_status="",
                      reason="not mine to do", repairs=None)
    assert (row.outcome, row.http_status, row.fault_name) == (Outcome.REJECTED, 403, "forbidden")
    assert cut.get_volume(vol)["status"] == "available"


def test_every_project_s_volumes_for_an_admin_a_page_at_a_time(cut: CloudUnderTest) -> None:
    """Captures 150-157: all_tenants with project, status and name filters, a page at a time by marker."""
    name = f"contract-list-{uuid.uuid4().hex[:8]}"
    mine = []
    for _ in range(2):
        mine.append(cut.make_volume(1))
        cut.cloud().cinder.update(mine[-1], name=name, description="")
    bobs = cut.make_volume(1, user="bob", project="other")
    cut.cloud("bob", "other").cinder.update(bobs, name=name, description="")
    admin = cut.cloud("admin", "admin").cinder
    first, marker = admin.list_all_volumes(name=name, limit=2)
    assert len(first) == 2 and marker == first[-1].id
    assert all(v.host for v in first)  # an admin's view
    rest, marker = admin.list_all_volumes(name=name, limit=2, marker=marker)
    assert len(rest) == 1 and marker == ""
    # Newest first across projects; real Cinder keeps created_at to the second and breaks ties by id.
    seen = first + rest
    assert {v.id for v in seen} == {*mine, bobs}
    assert [(v.created_at, v.id) for v in seen] == sorted(((v.created_at, v.id) for v in seen), reverse=True)
    assert {v.project_id for v in seen} == {cut.project_id(), cut.project_id("bob", "other")}
    found, marker = admin.list_all_volumes(name=name, project_id=cut.project_id(), limit=5)
    assert ({v.id for v in found}, marker) == (set(mine), "")
    found, _ = admin.list_all_volumes(name=name, status="error", limit=5)
    assert found == []
    with pytest.raises(CloudError) as exc:
        admin.list_all_volumes(marker=str(uuid.uuid4()))
    assert error(exc) == ("fault", 404, "itemNotFound", "Volume <id> could not be found.")
    # A member's all_tenants is ignored: their own project's volumes only (capture 156).
    found, _ = cut.cloud().cinder.list_all_volumes(limit=50)
    assert set(mine) <= {v.id for v in found} and bobs not in {v.id for v in found}


def test_force_detach_by_an_admin_of_another_project(cut: CloudUnderTest) -> None:
    """Captures 160-165: a host attachment of alice's, force-detached by admin (project admin)."""
    vol = cut.make_volume(1)
    attachment = cut.attach_host(vol)
    admin = cut.cloud("admin", "admin").cinder
    r = cut.post_action(vol, {"os-force_detach": {"attachment_id": attachment}})
    assert fault(r) == (403, "forbidden", "Policy doesn't allow volume_extension:volume_admin_actions:"
                                          "force_detach to be performed.")
    with pytest.raises(CloudError) as exc:
        admin.force_detach(vol, str(uuid.uuid4()))
    assert error(exc) == ("fault", 409, "conflictingRequest", "ConflictNovaUsingAttachment: Detach volume from "
                                                              "instance  using the Compute API")
    r = cut.post_action(vol, {"os-force_detach": {"attachment_id": attachment, "reason": "x"}}, user="admin",
                        project="admin")
    assert fault(r) == (400, "badRequest", f"Invalid input for field/attribute os-force_detach. Value: "
                                           f"{{'attachment_id': '{attachment}', 'reason': 'x'}}. Additional "
                                           "properties are not allowed ('reason' was unexpected)".replace(
                                               attachment, "<id>"))
    assert admin.force_detach(vol, attachment).status == 202
    seen = cut.watch_volume(vol)
    assert seen.final and (seen.final["status"], seen.final["attachments"]) == ("available", [])
    with pytest.raises(CloudError) as exc:
        admin.force_detach(vol, attachment)
    assert error(exc)[:3] == ("fault", 409, "conflictingRequest")


def test_force_delete_by_an_admin_of_another_project(cut: CloudUnderTest) -> None:
    """Captures 170-176: admin (project admin) force-deletes alice's volume stuck in error_extending; Cinder still
    refuses an attached volume and one with snapshots."""
    refusal = ("Invalid volume: Volume  must not be migrating, attached, belong to a group, have snapshots, awaiting "
               "a transfer, or be disassociated from snapshots after volume transfer.")
    admin = cut.cloud("admin", "admin").cinder
    vol = cut.make_volume(1)
    r = cut.post_action(vol, {"os-force_delete": {}})
    assert fault(r) == (403, "forbidden", "Policy doesn't allow volume_extension:volume_admin_actions:"
                                          "force_delete to be performed.")
    attached = cut.make_volume(1)
    cut.attach_host(attached)
    with pytest.raises(CloudError) as exc:
        admin.force_delete(attached)
    assert error(exc) == ("fault", 400, "badRequest", refusal)
    snapped = cut.make_volume(1)
    snapshot = cut.make_snapshot(snapped)
    # An admin sees another project's snapshots with all_tenants only.
    assert [s.id for s in admin.list_snapshots(snapped, all_projects=True)] == [snapshot]
    assert admin.list_snapshots(snapped) == []
    with pytest.raises(CloudError) as exc:
        admin.force_delete(snapped)
    assert error(exc) == ("fault", 400, "badRequest", refusal)
    with pytest.raises(CloudError) as exc:
        admin.force_delete(str(uuid.uuid4()))
    assert error(exc) == ("fault", 404, "itemNotFound", "Volume <id> could not be found.")
    cut._admin_reset(vol, status="error_extending")
    assert admin.force_delete(vol).status == 202
    seen = cut.watch_volume(vol)
    assert seen.final is None  # gone


def test_migrate_refusals_and_the_scheduler_s_pools(cut: CloudUnderTest) -> None:
    """Captures 180-187. The real rig has one back end, so a migration's success is the demo cloud's alone
    (tests/volumes/test_admin_views.py); the answers both clouds give are compared here."""
    vol = cut.make_volume(1)
    admin = cut.cloud("admin", "admin").cinder
    pools = admin.scheduler_pools()
    host = admin.get_volume(vol).host
    assert host in pools and all(p.count("@") == 1 and p.count("#") == 1 for p in pools)
    with pytest.raises(CloudError) as exc:
        cut.cloud().cinder.scheduler_pools()
    assert error(exc) == ("fault", 403, "forbidden", "Policy doesn't allow scheduler_extension:scheduler_stats:"
                                                     "get_pools to be performed.")
    r = cut.post_action(vol, {"os-migrate_volume": {"host": host}})
    assert fault(r) == (403, "forbidden", "Policy doesn't allow volume_extension:volume_admin_actions:"
                                          "migrate_volume to be performed.")
    with pytest.raises(CloudError) as exc:
        admin.migrate(vol, "nowhere@lvm#pool", force_host_copy=False, lock_volume=False)
    assert error(exc) == ("fault", 400, "badRequest", "Invalid host: No available service named 'nowhere@lvm#pool'")
    with pytest.raises(CloudError) as exc:
        admin.migrate(vol, host, force_host_copy=False, lock_volume=True)
    assert error(exc) == ("fault", 400, "badRequest", "Invalid volume: Volume <id> status must be available or "
                                                      "in-use, must not be migrating, have snapshots, be replicated, "
                                                      "be part of a group and destination host/cluster must be "
                                                      "different than the current one")
    r = cut.post_action(vol, {"os-migrate_volume": {}}, user="admin", project="admin")
    assert fault(r) == (400, "badRequest", "Invalid input for field/attribute os-migrate_volume. Value: {}. 'host' "
                                           "is a required property")
    assert cut.get_volume(vol)["status"] == "available"


def test_every_project_s_volumes_unchanged_since_a_time(cut: CloudUnderTest) -> None:
    """Cinder's updated_at=lt: filter, which the all-projects list's "unchanged for N minutes" asks with."""
    from datetime import datetime, timedelta
    from datetime import timezone as tz

    name = f"contract-stuck-{uuid.uuid4().hex[:8]}"
    vol = cut.make_volume(1)
    cut.cloud().cinder.update(vol, name=name, description="")
    admin = cut.cloud("admin", "admin").cinder
    now = datetime.now(tz.utc)
    found, _ = admin.list_all_volumes(name=name, updated_before=now + timedelta(hours=1))
    assert [v.id for v in found] == [vol]
    found, _ = admin.list_all_volumes(name=name, updated_before=now - timedelta(hours=1))
    assert found == []
    r = cut.session("admin", "admin").get(
        f"{cut.volume_url('admin', 'admin')}/volumes/detail?all_tenants=1&updated_at=lt:bogus",
        headers={"OpenStack-API-Version": "volume 3.60"}, raise_exc=False)
    assert fault(r, "3.60") == (400, "badRequest", "Invalid bogus value")


# --- Keystone's project list for admin pages (GET /v3/projects; keystone.api.projects.ProjectsResource.get) ------
def test_every_project_for_an_admin_and_403_for_a_member(cut: CloudUnderTest) -> None:
    """Admin pages name projects from GET /v3/projects with the admin's token (identity:list_projects, allowed to
    the admin role by Keystone 30's default policy); a member is refused 403."""
    from volpanel.openstack.session import all_projects

    keystone = cut.config.auth_url.rstrip("/")
    admin = cut.session("admin", "admin")
    r = admin.get(f"{keystone}/projects", raise_exc=False)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["links"] == {"self": f"{keystone}/projects", "previous": None, "next": None}
    by_name = {p["name"]: p for p in body["projects"]}
    assert {"demo", "other", "admin"} <= set(by_name)
    for p in body["projects"]:
        assert set(p) == {"id", "name", "domain_id", "description", "enabled", "parent_id", "is_domain", "tags",
                          "options", "links"}, p
        assert (p["domain_id"], p["parent_id"], p["is_domain"], p["enabled"]) == ("default", "default", False, True)
        assert p["links"] == {"self": f"{keystone}/projects/{p['id']}"}
    assert by_name["demo"]["id"] == cut.project_id() and by_name["other"]["id"] == cut.project_id("bob", "other")
    # Keystone's filters: by name, one project; an unknown name, none; the self link repeats the query.
    r = admin.get(f"{keystone}/projects?name=other", raise_exc=False)
    assert [p["id"] for p in r.json()["projects"]] == [cut.project_id("bob", "other")]
    assert r.json()["links"]["self"] == f"{keystone}/projects?name=other"
    assert admin.get(f"{keystone}/projects?name=no-such-project", raise_exc=False).json()["projects"] == []
    # volpanel's client reads the same.
    assert {p.id: p.name for p in all_projects(cut.config, cut.login("admin", "admin"))} == {
        p["id"]: p["name"] for p in body["projects"]}

    member = cut.session().get(f"{keystone}/projects", raise_exc=False)
    assert member.status_code == 403
    assert member.json() == {"error": {"code": 403, "title": "Forbidden", "message": "You are not authorized to "
                                       "perform the requested action: identity:list_projects."}}
    with pytest.raises(CloudError) as exc:
        all_projects(cut.config, cut.login())
    assert (exc.value.kind, exc.value.status) == ("fault", 403)


# --- a member's list filters from 3.31 (packaged Cinder's resource_filters.json; the rig uses the same file) ------
def test_a_member_s_list_filters_from_3_31_are_packaged_cinder_s(cut: CloudUnderTest) -> None:
    """cinder.api.common.reject_invalid_filters: from 3.31 a non-admin may filter volumes and snapshots by the
    filters etc/cinder/resource_filters.json lists (`name`, `status`, snapshot `volume_id`, …) and by nothing
    else; pagination and sorting are not filters; a member's all_tenants is dropped silently."""
    vol = cut.make_volume(1)
    name = f"contract-filter-{uuid.uuid4().hex[:8]}"
    cut.cloud().cinder.update(vol, name=name, description="")
    snap = cut.make_snapshot(vol)
    snap_name = cut.get_snapshot(snap)["name"]  # type: ignore[index]
    url, s = cut.volume_url(), cut.session()
    for version in ("3.31", "3.71"):
        r = s.get(f"{url}/volumes/detail?name={name}&limit=5&sort=created_at:desc&all_tenants=1",
                  headers=mv(version), raise_exc=False)
        assert r.status_code == 200, r.text
        assert [v["id"] for v in r.json()["volumes"]] == [vol]
        r = s.get(f"{url}/snapshots/detail?name={snap_name}", headers=mv(version), raise_exc=False)
        assert [x["id"] for x in r.json()["snapshots"]] == [snap], r.text
        r = s.get(f"{url}/snapshots?volume_id={vol}&status=available", headers=mv(version), raise_exc=False)
        assert [x["id"] for x in r.json()["snapshots"]] == [snap], r.text
        # Anything else is refused, every unlisted filter named in the query's order.
        r = s.get(f"{url}/volumes/detail?host=x&name={name}&project_id={cut.project_id()}", headers=mv(version),
                  raise_exc=False)
        assert fault(r, version) == (400, "badRequest", "Invalid filters host,project_id are found in query options.")
        r = s.get(f"{url}/snapshots/detail?project_id={cut.project_id()}", headers=mv(version), raise_exc=False)
        assert fault(r, version) == (400, "badRequest", "Invalid filters project_id are found in query options.")
