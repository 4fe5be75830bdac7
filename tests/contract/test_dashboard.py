"""The dashboard end to end on both clouds: log in through the login page, open the volume page, run the action
as the page's htmx form does, follow the SSE stream until the volume settles, and find the audit row resolved.
Both clouds have Compute: the real one runs Nova 34 with its fake virt driver (tests/realcloud/up.sh)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from tests.conftest import web_login
from tests.contract.conftest import CloudUnderTest
from tests.volumes.test_streams import read_stream
from volpanel.audit.models import AuditEntry, Outcome

pytestmark = pytest.mark.django_db(transaction=True)
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def dashboard(cut: CloudUnderTest, client: Client, settings: Any) -> Client:
    settings.OPENSTACK = {**settings.OPENSTACK, "auth_url": cut.config.auth_url,
                          "region_name": cut.config.region_name, "timeout": cut.config.timeout}
    # Upstream Cinder has no upload-from-snapshot; the demo cloud has the vendor extension switched on.
    settings.VOLPANEL_SNAPSHOT_UPLOAD = cut.name == "demo"
    web_login(client, "alice", "demo")
    return client


def act(client: Client, volume_id: str, action: str, data: dict[str, str]) -> tuple[AuditEntry, list[Any]]:
    page = client.get(f"/volumes/{volume_id}/")
    assert page.status_code == 200, page.content[:300]
    response = client.post(f"/volumes/{volume_id}/{action}/", data, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200 and "accepted by the cloud" in body, body[:2000]
    # The stream is offered unless a fast cloud already settled it (real Cinder reverts in ~0.2 s).
    assert 'sse-connect="/volumes/' in body or "already done" in body
    status, _, events = read_stream(client, f"/volumes/{volume_id}/stream/")
    assert status == 200 and events[-1][0] == "settled", events[-3:]
    history = [data for name, data in events if name == "history"][-1]
    assert 'data-outcome="succeeded"' in history, history
    row = AuditEntry.objects.order_by("-id").first()
    assert row is not None and row.outcome == Outcome.SUCCEEDED, (row and (row.outcome, row.detail))
    assert row.request_id.startswith("req-") and row.settled_at and row.actor_name == "alice"
    return row, events


def prepare_plain(cut: CloudUnderTest) -> tuple[str, dict[str, str]]:
    return cut.make_volume(1), {}


CASES: list[tuple[str, str, Callable[[CloudUnderTest, str], dict[str, str]], str]] = [
    ("extend", "extend", lambda cut, vid: {"new_size": "2"}, "2 GiB"),
    ("extend in-use", "extend", lambda cut, vid: (cut.attach_host(vid), {"new_size": "3"})[1], "3 GiB"),
    ("extend on a server", "extend",
     lambda cut, vid: (cut.nova_attach(vid, cut.server_id()), {"new_size": "2"})[1], "2 GiB"),
    ("attach to server", "attach_server", lambda cut, vid: {"server_id": cut.server_id()}, "/dev/"),
    ("detach from server", "detach",
     lambda cut, vid: {"attachment_id": cut.nova_attach(vid, cut.server_id()).final["attachments"][0][
         "attachment_id"]}, "Not attached."),
    ("attach to host", "attach_host",
     lambda cut, vid: {"host_name": "dash-host", "mountpoint": "/dev/vdh", "mode": "rw"}, "/dev/vdh"),
    ("detach", "detach", lambda cut, vid: {"attachment_id": cut.attach_host(vid)}, "Not attached."),
    ("change type", "retype", lambda cut, vid: {"new_type": "gold", "migration_policy": "never"}, "gold"),
    ("upload to image", "upload", lambda cut, vid: {"image_name": "dash-image", "disk_format": "raw",
                                                    "container_format": "bare", "visibility": "private"},
     "available"),
    ("revert", "revert", lambda cut, vid: {"snapshot_id": cut.make_snapshot(vid), "confirm": "on"}, "available"),
    ("read-only", "readonly", lambda cut, vid: {"readonly": "on"}, 'data-testid="volume-readonly">yes<'),
    ("take snapshot", "snapshot", lambda cut, vid: {"name": "dash-snap", "description": ""}, "dash-snap"),
    ("set image property", "image_metadata", lambda cut, vid: {"key": "os_distro", "value": "debian"},
     "<code><bdi>os_distro</bdi></code> = <bdi>debian</bdi>"),
    ("remove image property", "unset_image_metadata",
     lambda cut, vid: (cut.post_action(vid, {"os-set_image_metadata": {"metadata": {"os_distro": "x"}}}),
                       {"key": "os_distro"})[1], 'data-testid="volume-image-metadata">none<'),
    ("reimage", "reimage", lambda cut, vid: {"image_id": cut.cloud().glance.list_images()[0].id, "confirm": "on"},
     "<code><bdi>image_id</bdi></code>"),
    ("delete snapshot", "delete_snapshot", lambda cut, vid: {"snapshot_id": cut.make_snapshot(vid), "confirm": "on"},
     "No snapshots."),
]


@pytest.mark.parametrize(("label", "action", "prepare", "settled"), CASES, ids=[c[0] for c in CASES])
def test_it_runs_the_action_from_the_page_to_a_settled_audit_row(
        cut: CloudUnderTest, dashboard: Client, label: str, action: str,
        prepare: Callable[[CloudUnderTest, str], dict[str, str]], settled: str) -> None:
    volume_id = cut.make_volume(1)
    data = prepare(cut, volume_id)
    row, events = act(dashboard, volume_id, action, data)
    if row.image_id:
        cut.track_image(row.image_id)
    final = dashboard.get(f"/volumes/{volume_id}/?partial=status", **HTMX).content.decode()
    assert settled in final, final
    if label == "extend on a server":
        # Nova records extend_volume after Cinder shows in-use again: the stream waited for it and showed it.
        progress = [data for name, data in events if name == "progress"]
        assert 'data-testid="nova-extend"' in progress[-1], progress[-1]
        assert "Nova recorded <code>extend_volume</code>" in progress[-1]
    if label == "detach from server":
        assert row.action == "server-detach", row.action


def test_upload_from_a_snapshot_is_offered_only_where_cinder_has_the_extension(
        cut: CloudUnderTest, dashboard: Client) -> None:
    volume_id = cut.make_volume(1)
    cut.make_snapshot(volume_id)
    page = dashboard.get(f"/volumes/{volume_id}/").content.decode()
    reason = "This cloud does not support uploading a snapshot to an image."
    if cut.name == "real":  # a Virtuozzo extension: upstream Cinder has no upload from a snapshot
        assert reason in page
    else:
        assert reason not in page and 'data-action="upload_snapshot"' in page


def test_a_project_switch_revokes_the_old_token_and_the_new_one_works(cut: CloudUnderTest, client: Client,
                                                                      settings: Any) -> None:
    """Keystone revokes a token by its own audit id: the token rescoped from it (whose audit chain names the
    old one) must stay valid once volpanel revokes the old one at a project switch."""
    import requests

    from tests.conftest import token_of

    settings.OPENSTACK = {**settings.OPENSTACK, "auth_url": cut.config.auth_url,
                          "region_name": cut.config.region_name, "timeout": cut.config.timeout}
    web_login(client, "carol", "demo")
    old = token_of(client)
    other = cut.project_id("carol", "other")
    assert client.post("/project/", {"project_id": other}).status_code == 302
    new = token_of(client)
    assert new != old
    page = client.get("/volumes/")
    assert page.status_code == 200 and "other" in page.content.decode(), page.content.decode()[-3000:]

    def keystone_says(token: str) -> int:
        return requests.get(f"{cut.config.auth_url.rstrip('/')}/auth/tokens", timeout=30,
                            headers={"X-Auth-Token": new, "X-Subject-Token": token}).status_code
    assert (keystone_says(old), keystone_says(new)) == (404, 200)
