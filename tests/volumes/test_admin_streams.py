"""The admin volume page's stream (volumes/admin_streams.py): a migration followed live on the admin page, through
the same watcher that follows the admin's row, and nothing of it for a member."""

from __future__ import annotations

from uuid import uuid4

import pytest
from django.test import Client

from tests.conftest import Demo, token_of, web_login
from tests.volumes.test_streams import parse, read_raw
from volpanel.audit.models import AuditEntry, Outcome
from volpanel.volumes import watchers
from volpanel.volumes.presenters import CSRF_PLACEHOLDER

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_admin_stream_follows_a_migrate_through_its_states_to_the_settled_row(
        demo: Demo, alice_client: Client) -> None:
    demo.config(delay=2.0)
    vol = demo.volume("bob-secret")  # another project's volume than the admin's
    vid, url = vol["id"], f"/manage/volumes/{vol['id']}/stream/"
    admin = Client()
    web_login(admin, "admin", "admin")
    quiet = admin.get(f"/manage/volumes/{vid}/").content.decode()
    assert "sse-connect" not in quiet  # nothing moves: the page is not live

    response = admin.post(f"/manage/volumes/{vid}/migrate/", {
        "host": "democloud@lvm-b#lvm-b", "reason": "Draining lvm", "idempotency_key": uuid4().hex})
    assert response.status_code == 302
    page = admin.get(f"/manage/volumes/{vid}/").content.decode()
    assert f'sse-connect="{url}"' in page
    # The admin's row is followed with the admin's token, keyed by the admin's project; the stream subscribes to
    # that same watcher: one poller for the repair and every admin watching it.
    keys = [key for key in watchers.polling() if key[2] == vid]
    assert len(keys) == 1 and keys[0][1] != vol["project_id"]

    status, headers, text = read_raw(admin, url)
    assert status == 200 and headers["Content-Type"] == "text/event-stream"
    events = parse(text)
    states = [data for name, data in events if name == "status"]
    assert any('data-testid="volume-migration-status">migrating' in s for s in states), states
    assert 'democloud@lvm-b#lvm-b</code>' in states[-1] and 'volume-migration-status">success' in states[-1]
    assert not any("democloud@lvm-b#lvm-b</code>" in s for s in states[:-1] if "migrating" in s)
    history = [data for name, data in events if name == "history"]
    row = AuditEntry.objects.get(action="os-migrate_volume")
    assert row.outcome == Outcome.SUCCEEDED
    assert f'data-row="{row.uuid}"' in history[-1] and 'data-outcome="succeeded"' in history[-1]
    assert "Draining lvm" in history[-1]
    panels = [data for name, data in events if name == "actions"]
    assert panels and all(CSRF_PLACEHOLDER not in p and 'name="csrfmiddlewaretoken"' in p for p in panels)
    assert 'data-action="migrate"' in panels[-1]
    assert events[-1] == ("settled", "available")
    assert token_of(admin) not in text  # the admin's token never leaves the server
    assert watchers.wait_idle(20)

    # A member: 403, and the cloud hears nothing of it; nobody signed in: 401.
    served = demo.requests_served()
    status, _, text = read_raw(alice_client, url)
    assert status == 403 and "for cloud administrators" in text
    status, _, _ = read_raw(Client(), url)
    assert status == 401
    assert demo.requests_served() == served


def test_the_admin_page_follows_a_tenant_s_action_live(demo: Demo, alice_client: Client) -> None:
    demo.config(delay=1.0)
    vid = demo.volume("data-01")["id"]
    alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "15"}, HTTP_HX_REQUEST="true")
    admin = Client()
    web_login(admin, "admin", "admin")
    page = admin.get(f"/manage/volumes/{vid}/").content.decode()
    assert f'sse-connect="/manage/volumes/{vid}/stream/"' in page and "extending" in page
    status, _, text = read_raw(admin, f"/manage/volumes/{vid}/stream/")
    events = parse(text)
    states = [data for name, data in events if name == "status"]
    assert status == 200 and "extending" in states[0] and "15 GiB" in states[-1]
    assert events[-1] == ("settled", "available")
    assert "alice" in [data for name, data in events if name == "history"][-1]  # the tenant's row, every project's
    assert watchers.wait_idle(20)
