"""The SSE status stream: it pushes the page's partials as the volume moves and ends when it settles."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client

from tests.conftest import Demo, web_login
from volpanel import watchers
from volpanel.models import AuditEntry, Outcome

pytestmark = pytest.mark.django_db(transaction=True)


def read_stream(client: Client, url: str) -> tuple[int, dict[str, str], list[tuple[str, str]]]:
    async_client = AsyncClient()
    async_client.cookies = client.cookies

    async def read() -> tuple[int, dict[str, str], str]:
        response = await async_client.get(url)
        if not response.streaming:
            return response.status_code, dict(response.headers), response.content.decode()
        chunks = [chunk.decode() async for chunk in response.streaming_content]
        return response.status_code, dict(response.headers), "".join(chunks)

    status, headers, text = async_to_sync(read)()
    events = []
    for block in text.split("\n\n"):
        name = next((line[7:] for line in block.splitlines() if line.startswith("event: ")), "")
        data = "\n".join(line[6:] for line in block.splitlines() if line.startswith("data: "))
        if name:
            events.append((name, data))
    return status, headers, events


def test_it_streams_a_status_change_until_the_volume_settles(demo: Demo, alice_client: Client) -> None:
    demo.config(delay=1.0)
    vid = demo.volume("data-01")["id"]
    alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "15"}, HTTP_HX_REQUEST="true")
    status, headers, events = read_stream(alice_client, f"/volumes/{vid}/stream/")
    assert status == 200 and headers["Content-Type"] == "text/event-stream"
    assert headers["Cache-Control"] == "no-cache" and headers["X-Accel-Buffering"] == "no"
    statuses = [data for name, data in events if name == "status"]
    assert "extending" in statuses[0]
    assert "available" in statuses[-1] and "15 GiB" in statuses[-1]
    assert {"status", "actions", "progress", "history"} <= {name for name, _ in events}
    assert events[-1] == ("settled", "available")
    history = [data for name, data in events if name == "history"][-1]
    assert 'data-outcome="succeeded"' in history
    assert watchers.wait_idle(10)
    assert AuditEntry.objects.get().outcome == Outcome.SUCCEEDED


def test_it_ends_at_once_for_a_settled_volume_and_refuses_strangers(demo: Demo, alice_client: Client) -> None:
    vid = demo.volume("scratch")["id"]
    status, _, events = read_stream(alice_client, f"/volumes/{vid}/stream/")
    assert status == 200 and events[-1] == ("settled", "available")
    status, _, _ = read_stream(Client(), f"/volumes/{vid}/stream/")
    assert status == 401
    secret = demo.volume("bob-secret")["id"]
    status, _, events = read_stream(alice_client, f"/volumes/{secret}/stream/")
    assert events == [("gone", "This volume is not in your project, or no longer exists."), ("settled", "gone")]


def test_it_announces_the_followed_attempt_s_final_outcome_once(demo: Demo, alice_client: Client) -> None:
    demo.config(delay=0.6)
    vid = demo.volume("data-01")["id"]
    answer = alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "15"}, HTTP_HX_REQUEST="true")
    body = answer.content.decode()
    entry = AuditEntry.objects.get()
    # The answer carries the announcement out of band and points the stream at this attempt.
    assert '<div id="volume-announce"' in body and 'hx-swap-oob="innerHTML"' in body
    assert "Extend accepted by the cloud" in body and f"?attempt={entry.uuid}" in body
    _, _, events = read_stream(alice_client, f"/volumes/{vid}/stream/?attempt={entry.uuid}")
    announcements = [data for name, data in events if name == "announce"]
    assert len(announcements) == 1
    assert "Extend succeeded: The volume is now 15 GiB." in announcements[0]
    assert 'hx-swap-oob="innerHTML"' in announcements[0] and entry.request_id in announcements[0]
    assert events[-1] == ("settled", "available")
    # Another attempt id, or none, is announced to nobody.
    for query in ("", "?attempt=not-a-uuid", f"?attempt={entry.uuid}".replace(str(entry.uuid)[:8], "00000000")):
        _, _, events = read_stream(alice_client, f"/volumes/{vid}/stream/{query}")
        assert "announce" not in {name for name, _ in events}, query
    other = Client()
    web_login(other, "bob", "other")
    _, _, events = read_stream(other, f"/volumes/{vid}/stream/?attempt={entry.uuid}")
    assert events == [("gone", "This volume is not in your project, or no longer exists."), ("settled", "gone")]
