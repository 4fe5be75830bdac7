"""The dashboard end to end on both clouds: log in through the login page, open the volume page, run the action
as the page's htmx form does, follow the SSE stream until the volume settles, and find the audit row resolved.
Only what needs no Nova (real Cinder here runs without Compute): server attach is covered on the demo cloud."""

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


def act(client: Client, volume_id: str, action: str, data: dict[str, str]) -> AuditEntry:
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
    return row


def prepare_plain(cut: CloudUnderTest) -> tuple[str, dict[str, str]]:
    return cut.make_volume(1), {}


CASES: list[tuple[str, str, Callable[[CloudUnderTest, str], dict[str, str]], str]] = [
    ("extend", "extend", lambda cut, vid: {"new_size": "2"}, "2 GiB"),
    ("extend in-use", "extend", lambda cut, vid: (cut.attach_host(vid), {"new_size": "3"})[1], "3 GiB"),
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
    ("delete snapshot", "delete_snapshot", lambda cut, vid: {"snapshot_id": cut.make_snapshot(vid), "confirm": "on"},
     "No snapshots."),
]


@pytest.mark.parametrize(("label", "action", "prepare", "settled"), CASES, ids=[c[0] for c in CASES])
def test_it_runs_the_action_from_the_page_to_a_settled_audit_row(
        cut: CloudUnderTest, dashboard: Client, label: str, action: str,
        prepare: Callable[[CloudUnderTest, str], dict[str, str]], settled: str) -> None:
    volume_id = cut.make_volume(1)
    data = prepare(cut, volume_id)
    row = act(dashboard, volume_id, action, data)
    if row.image_id:
        cut.track_image(row.image_id)
    final = dashboard.get(f"/volumes/{volume_id}/?partial=status", **HTMX).content.decode()
    assert settled in final, final
