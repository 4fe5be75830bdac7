"""The SSE status stream: it pushes the page's partials as the volume moves and ends when it settles."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connections
from django.db.backends.signals import connection_created
from django.test import AsyncClient, Client

from tests.asgi_helpers import http_scope, on_own_loop, one_request
from tests.conftest import Demo, expire_session_token, token_of, web_login
from volpanel.audit.models import AuditEntry, Outcome
from volpanel.cloud import connect
from volpanel.volumes import watchers

pytestmark = pytest.mark.django_db(transaction=True)
VOLUME_GET = "GET /volume/v3/{project_id}/volumes/{volume_id}"


def parse(text: str) -> list[tuple[str, str]]:
    events = []
    for block in text.split("\n\n"):
        name = next((line[7:] for line in block.splitlines() if line.startswith("event: ")), "")
        data = "\n".join(line[6:] for line in block.splitlines() if line.startswith("data: "))
        if name:
            events.append((name, data))
    return events


def event_ids(text: str) -> list[str]:
    return re.findall(r"^id: (.+)$", text, flags=re.MULTILINE)


async def aread_stream(client: Client, url: str, last_event_id: str = "") -> tuple[int, dict[str, str], str]:
    async_client = AsyncClient()
    async_client.cookies = client.cookies
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    response = await async_client.get(url, headers=headers)
    if not response.streaming:
        return response.status_code, dict(response.headers), response.content.decode()
    chunks = [chunk.decode() async for chunk in response.streaming_content]
    return response.status_code, dict(response.headers), "".join(chunks)


def read_raw(client: Client, url: str, last_event_id: str = "") -> tuple[int, dict[str, str], str]:
    return async_to_sync(aread_stream)(client, url, last_event_id)


def read_stream(client: Client, url: str) -> tuple[int, dict[str, str], list[tuple[str, str]]]:
    status, headers, text = read_raw(client, url)
    return status, headers, parse(text)


def stream_until(client: Client, url: str, hang_up_after: str, while_open: Callable[[], None] = lambda: None) -> str:
    """Serve the stream through the ASGI application, as uvicorn does, and hang up once `hang_up_after` arrives
    (after calling `while_open`, with the stream still open)."""
    from volpanel.asgi import application

    cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())
    scope = http_scope(url, headers=[(b"cookie", cookie.encode())])
    received: list[str] = []

    async def run() -> None:
        hung_up = asyncio.Event()
        receive = one_request(b"", hung_up)

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                received.append(message.get("body", b"").decode())
                if hang_up_after in "".join(received) and not hung_up.is_set():
                    await asyncio.to_thread(while_open)
                    hung_up.set()

        await asyncio.wait_for(application(scope, receive, send), 20)

    on_own_loop(run)
    return "".join(received)


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


def _extending_with_a_second_session(demo: Demo, alice_client: Client, delay: float) -> tuple[str, Client]:
    """data-01 extending on alice's action (a watcher follows it with her token), and alice logged in again."""
    demo.config(delay=delay)
    vid = demo.volume("data-01")["id"]
    assert "accepted by the cloud" in alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "15"},
                                                        HTTP_HX_REQUEST="true").content.decode()
    second = Client()
    web_login(second, "alice", "demo")
    return vid, second


def test_a_viewer_whose_token_is_refused_or_expired_gets_nothing_from_a_running_watcher(
        demo: Demo, alice_client: Client) -> None:
    # Another session of the same user whose token the cloud has since revoked (say, removed from the project):
    # its stream, asked for directly, gets no status from the watcher and leaves the watcher's token alone.
    vid, stale = _extending_with_a_second_session(demo, alice_client, delay=1.0)
    demo.revoke(token_of(stale))
    status, _, events = read_stream(stale, f"/volumes/{vid}/stream/")
    assert status == 200 and [name for name, _ in events] == ["announce", "settled"]
    assert "session with the cloud has expired" in events[0][1]
    # A session past its token's expiry is refused before anything is asked of the cloud.
    expire_session_token(stale)
    assert read_stream(stale, f"/volumes/{vid}/stream/")[0] == 401
    # alice's own view and her row are untouched.
    _, _, events = read_stream(alice_client, f"/volumes/{vid}/stream/")
    assert events[-1] == ("settled", "available")
    assert watchers.wait_idle(10)
    assert AuditEntry.objects.get().outcome == Outcome.SUCCEEDED


def test_a_watcher_whose_token_is_refused_polls_on_with_another_viewer_s(demo: Demo, alice_client: Client) -> None:
    vid, other = _extending_with_a_second_session(demo, alice_client, delay=1.5)
    assert other.get(f"/volumes/{vid}/").status_code == 200

    def revoke_the_watchers_token() -> None:
        watch = watchers.watch_of(vid)
        assert watch is not None
        in_use = json.loads(watch.cloud.credentials.auth_state)["auth_token"]
        demo.revoke(in_use)

    stream_until(other, f"/volumes/{vid}/stream/", hang_up_after="event: status", while_open=revoke_the_watchers_token)
    assert watchers.wait_idle(20)
    # Had the watcher stopped at the refusal, the row would still wait (accepted) for the reconciler.
    assert AuditEntry.objects.get().outcome == Outcome.SUCCEEDED


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


def test_it_resumes_from_last_event_id_without_missing_the_final_state(demo: Demo, alice_client: Client) -> None:
    demo.config(delay=1.0)
    vid = demo.volume("data-01")["id"]
    url = f"/volumes/{vid}/stream/"
    alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "15"}, HTTP_HX_REQUEST="true")
    # The browser sees the volume extending, then its connection drops.
    text = stream_until(alice_client, url, "event: history")
    assert text.startswith("retry: 2000\n\n") and "extending" in dict(parse(text))["status"]
    # One id per batch, on its last event: a browser holding it has every partial of that state.
    assert len(event_ids(text)) == 1 and re.search(r"id: \w+\nevent: history", text)
    moving_id = event_ids(text)[0]
    demo.wait_for("data-01", lambda v: v["status"] == "available")
    assert watchers.wait_idle(10)

    # It reconnects after the volume settled, to a watcher that never saw its id: it gets the final state.
    _, _, text = read_raw(alice_client, url, last_event_id=moving_id)
    events = parse(text)
    assert [name for name, _ in events] == ["status", "actions", "progress", "history", "settled"]
    assert "available" in events[0][1] and "15 GiB" in events[0][1] and events[-1] == ("settled", "available")
    assert 'data-outcome="succeeded"' in events[3][1]
    final_id = event_ids(text)[-1]
    assert final_id != moving_id

    # Reconnecting with the final id (another watcher again, as on another worker): only `settled`, which
    # closes the browser's EventSource; it already shows these partials.
    _, _, text = read_raw(alice_client, url, last_event_id=final_id)
    assert parse(text) == [("settled", "available")] and event_ids(text) == [final_id]
    # An id nobody issued (a stale tab, another deployment) gets the current state.
    _, _, text = read_raw(alice_client, url, last_event_id="not-an-id")
    assert [name for name, _ in parse(text)] == ["status", "actions", "progress", "history", "settled"]
    assert event_ids(text)[-1] == final_id


def test_it_gives_every_viewer_its_own_form_keys_and_a_working_csrf_token(demo: Demo, alice_client: Client) -> None:
    demo.config(delay=2.0)
    vid = demo.volume("web-root")["id"]
    alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "21"}, HTTP_HX_REQUEST="true")
    carol = Client(enforce_csrf_checks=True)
    web_login(carol_login := Client(), "carol", "demo")
    carol.cookies = carol_login.cookies
    assert carol.get(f"/volumes/{vid}/").status_code == 200  # as a browser does: the page, then its stream
    url = f"/volumes/{vid}/stream/"

    async def both() -> list[tuple[int, dict[str, str], str]]:
        return await asyncio.gather(aread_stream(alice_client, url), aread_stream(carol, url))

    # Both viewers watch until the volume settles; they share one render of each state, not its forms' secrets.
    (_, _, alice_text), (_, _, carol_text) = async_to_sync(both)()
    assert event_ids(alice_text)[-1] == event_ids(carol_text)[-1]  # both got the final state, one render of it
    alice_actions = [data for name, data in parse(alice_text) if name == "actions"][-1]
    carol_actions = [data for name, data in parse(carol_text) if name == "actions"][-1]
    key = re.compile(r'value="([0-9a-f]{32})"')
    alice_keys, carol_keys = set(key.findall(alice_actions)), set(key.findall(carol_actions))
    assert len(alice_keys) == len(carol_keys) == alice_actions.count('name="idempotency_key"') >= 2
    assert not alice_keys & carol_keys
    assert "csrf-" not in carol_actions
    demo.wait_for("web-root", lambda v: v["status"] == "in-use" and v["size"] == 21)
    assert watchers.wait_idle(10)
    # The form from carol's stream posts under CSRF enforcement: its token is hers.
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', carol_actions).group(1)
    response = carol.post(f"/volumes/{vid}/retype/", {"csrfmiddlewaretoken": token, "new_type": "gold",
                                                       "migration_policy": "never",
                                                       "idempotency_key": sorted(carol_keys)[0]},
                          HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "accepted by the cloud" in response.content.decode()
    assert watchers.wait_idle(10)
    assert AuditEntry.objects.get(action="os-retype").outcome == Outcome.SUCCEEDED


def test_it_stops_polling_when_the_last_viewer_leaves_unless_an_action_is_pending(
        demo: Demo, alice_client: Client, alice: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    demo.config(delay=30.0)
    scratch = demo.volume("scratch")["id"]
    # Moved outside volpanel: no audit row waits on it, only the viewer keeps its watcher.
    connect(alice).cinder.extend(scratch, 2, in_use=False)
    opened: list[tuple[str, Any]] = []
    closed: set[int] = set()
    wrapper_class = type(connections["default"])
    close = wrapper_class.close

    def record(sender: Any, connection: Any, **kwargs: Any) -> None:
        opened.append((threading.current_thread().name, connection))

    def recording_close(self: Any) -> None:
        closed.add(id(self))  # SQLite's in-memory test database ignores close(); remember it was asked
        close(self)

    def nothing_held() -> None:
        held = [name for name, c in opened
                if id(c) not in closed and c.connection is not None and not name.startswith("watch-")]
        assert not held, f"an open stream holds database connections in {held}"
        # Nor the thread that ran its middleware and read its session: a thousand streams, a thousand threads.
        # (The one thread per process that reads which streamed tokens ended is no stream's.)
        request_threads = {name for name, _ in opened if not name.startswith(("watch-", "stream-endings"))}
        assert request_threads
        for thread in threading.enumerate():
            if thread.name in request_threads:
                thread.join(2)
                assert not thread.is_alive(), f"an open stream keeps its request thread {thread.name}"

    monkeypatch.setattr(wrapper_class, "close", recording_close)
    connection_created.connect(record)
    try:
        text = stream_until(alice_client, f"/volumes/{scratch}/stream/", "event: history", nothing_held)
    finally:
        connection_created.disconnect(record)
    assert "extending" in dict(parse(text))["status"] and opened
    assert watchers.wait_idle(5), "the watcher outlived its only viewer"
    polls = demo.requests_served().get(VOLUME_GET, 0)
    time.sleep(0.5)  # five poll intervals in the suite
    assert demo.requests_served().get(VOLUME_GET, 0) == polls

    # An accepted action keeps its watcher after the viewer leaves, until the row settles.
    demo.config(delay=1.0)
    vid = demo.volume("data-01")["id"]
    alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "12"}, HTTP_HX_REQUEST="true")
    stream_until(alice_client, f"/volumes/{vid}/stream/", "event: history")
    assert any(key[2] == vid for key in watchers.polling())
    assert watchers.wait_idle(10)
    assert AuditEntry.objects.get().outcome == Outcome.SUCCEEDED


def test_a_watcher_nobody_views_polls_the_volume_alone_and_a_late_viewer_gets_the_current_state(
        demo: Demo, alice_client: Client) -> None:
    import requests

    demo.config(delay=1.5)
    vid = demo.volume("data-01")["id"]
    assert alice_client.get(f"/volumes/{vid}/").status_code == 200
    requests.delete(f"{demo.base}/_demo/requests", timeout=5).raise_for_status()
    alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "12"}, HTTP_HX_REQUEST="true")
    time.sleep(0.5)
    # While nobody looks, the watcher asks for the volume and nothing else: no page is loaded for no one.
    served = demo.requests_served()
    seen = {key: n for key, n in served.items() if "/volumes/{volume_id}" not in key}
    # The POST: its check reads the quota (what the extend form reads) with the volume; its answer, this token's
    # first on the volume, loads the rest of the page (and the volume's messages, as the volume just changed).
    assert seen == {"GET /volume/v3/{project_id}/snapshots/detail": 1, "GET /volume/v3/{project_id}/limits": 2,
                    "GET /compute/v2.1/servers/detail": 1, "GET /volume/v3/{project_id}/messages": 1}, seen
    assert served["POST /volume/v3/{project_id}/volumes/{volume_id}/action"] == 1
    # A viewer arriving meanwhile is not handed the state the watcher last published (before the action):
    # it gets the volume as it is now, then the final state.
    text = stream_until(alice_client, f"/volumes/{vid}/stream/", "event: settled")
    statuses = [data for name, data in parse(text) if name == "status"]
    assert "extending" in statuses[0] and 'data-testid="volume-size">12 GiB' in statuses[-1]
    assert watchers.wait_idle(10)
    assert AuditEntry.objects.get().outcome == Outcome.SUCCEEDED


def test_it_polls_a_moving_volume_every_interval_and_backs_off_while_it_is_quiet(settings: Any) -> None:
    settings.VOLPANEL_POLL_INTERVAL = 1.0
    assert [watchers.poll_interval(n) for n in range(8)] == [1.0, 1.0, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    settings.VOLPANEL_POLL_INTERVAL = 20.0
    assert watchers.poll_interval(0) == watchers.poll_interval(9) == 20.0


def test_it_links_history_rows_to_the_audit_detail_for_admins_only(demo: Demo, alice_client: Client) -> None:
    demo.config(delay=1.0)
    vid = demo.volume("data-01")["id"]
    alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "11"}, HTTP_HX_REQUEST="true")
    admin = Client()
    web_login(admin, "admin", "demo")  # the admin role in alice's project: the same shared render of History
    url = f"/volumes/{vid}/stream/"

    async def both() -> list[tuple[int, dict[str, str], str]]:
        return await asyncio.gather(aread_stream(alice_client, url), aread_stream(admin, url))

    (_, _, alice_text), (_, _, admin_text) = async_to_sync(both)()
    assert watchers.wait_idle(10)
    entry = AuditEntry.objects.get()
    alice_history = [data for name, data in parse(alice_text) if name == "history"]
    admin_history = [data for name, data in parse(admin_text) if name == "history"]
    assert alice_history and admin_history
    assert all(f"/audit/{entry.uuid}/" not in data for data in alice_history)
    assert all(f'<a href="/audit/{entry.uuid}/" data-testid="history-detail-link">' in data for data in admin_history)
    assert event_ids(alice_text) == event_ids(admin_text)



def test_after_an_in_use_extend_it_streams_nova_s_extend_volume_once_it_arrives(demo: Demo, alice_client: Client,
                                                                                settings: Any) -> None:
    settings.VOLPANEL_NOVA_EVENT_WAIT = 10.0
    demo.config(delay=1.0)  # Nova records extend_volume 0.5 s after Cinder shows in-use again, as real Nova does
    vid = demo.volume("web-root")["id"]
    alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "25"}, HTTP_HX_REQUEST="true")
    _, _, events = read_stream(alice_client, f"/volumes/{vid}/stream/")
    progress = [data for name, data in events if name == "progress"]
    statuses = [data for name, data in events if name == "status"]
    waiting = [p for p in progress if 'data-state="waiting"' in p]
    # The volume was in-use and 25 GiB again while the page still waited for Nova; then Nova's action arrived.
    assert waiting and "waiting for Nova to record <code>extend_volume</code>" in waiting[0]
    assert "in-use" in statuses[-1] and "25 GiB" in statuses[-1]
    assert 'data-testid="nova-extend"' in progress[-1] and "Nova recorded <code>extend_volume</code>" in progress[-1]
    assert "nova-followup" not in progress[-1]
    assert events[-1] == ("settled", "in-use")
    assert AuditEntry.objects.get().outcome == Outcome.SUCCEEDED


def test_after_an_in_use_extend_nova_never_records_it_stops_waiting_and_says_so(demo: Demo, alice_client: Client,
                                                                              settings: Any) -> None:
    settings.VOLPANEL_NOVA_EVENT_WAIT = 1.5
    demo.config(delay=0.3)
    demo.faults(backend={"nova_event": "lost"})  # Cinder's volume-extended event never reaches Nova
    vid = demo.volume("web-root")["id"]
    started = time.monotonic()
    alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "25"}, HTTP_HX_REQUEST="true")
    _, _, events = read_stream(alice_client, f"/volumes/{vid}/stream/")
    progress = [data for name, data in events if name == "progress"][-1]
    assert 'data-state="gave-up"' in progress and "Nova recorded no <code>extend_volume</code> within 1.5 seconds" \
        in progress and "The volume is 25 GiB" in progress
    # The old extend_volume of the seed is not passed off as this one's.
    assert 'data-testid="nova-extend"' not in progress
    assert events[-1] == ("settled", "in-use") and time.monotonic() - started < 10
    # The row is judged by Cinder's result alone.
    entry = AuditEntry.objects.get()
    assert (entry.outcome, entry.detail) == (Outcome.SUCCEEDED, "The volume is now 25 GiB.")


def test_it_stops_an_open_stream_within_seconds_once_its_session_ends_or_its_token_is_refused(
        demo: Demo, alice_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two sessions of alice watch data-01 extend; one logs out. Its stream used to go on until the volume settled
    (the shared watcher polls with the other session's token); now it stops within a couple of seconds, while
    the other follows the volume to the end. A token revoked at Keystone behind volpanel's back stops its stream
    at the next Keystone check."""
    from volpanel.volumes import streams

    monkeypatch.setattr(streams, "KEYSTONE_CHECK_SECONDS", 1.0)
    vid, second = _extending_with_a_second_session(demo, alice_client, delay=6.0)
    third = Client()
    web_login(third, "alice", "demo")
    url = f"/volumes/{vid}/stream/"
    ended: dict[str, tuple[float, str]] = {}

    def follow(name: str, client: Client) -> None:
        text = read_raw(client, url)[2]
        ended[name] = (time.monotonic(), text)

    threads = {name: threading.Thread(target=follow, args=(name, client))
               for name, client in (("alice", alice_client), ("second", second), ("third", third))}
    for thread in threads.values():
        thread.start()
    time.sleep(1.0)
    logged_out = time.monotonic()
    assert second.post("/logout/").status_code == 302
    threads["second"].join(10)
    revoked = time.monotonic()
    demo.revoke(token_of(third))
    threads["third"].join(10)
    threads["alice"].join(20)
    stopped = {name: round(ended[name][0] - since, 1) for name, since in (("second", logged_out),
                                                                          ("third", revoked))}
    print(f"\nFIGURES streams stopped after: logout {stopped['second']} s, Keystone revocation {stopped['third']} s")
    assert stopped["second"] < 3.0 and stopped["third"] < 4.0, stopped
    for name in ("second", "third"):
        events = parse(ended[name][1])
        assert [n for n, _ in events[-2:]] == ["announce", "settled"] and events[-1][1] == "gone", events[-2:]
        assert "Your session has ended" in events[-2][1]
    assert parse(ended["alice"][1])[-1] == ("settled", "available")
    assert watchers.wait_idle(10)
    assert AuditEntry.objects.get().outcome == Outcome.SUCCEEDED


def test_it_caps_open_streams_per_session_and_per_user_and_serves_the_page_without_one(
        demo: Demo, alice_client: Client, settings: Any) -> None:
    """300 streams of one session were all accepted; now a session holds at most VOLPANEL_STREAMS_PER_SESSION and
    a user VOLPANEL_STREAMS_PER_USER: past them 429 with Retry-After, and the page comes without its stream."""
    from volpanel.volumes import limits

    settings.VOLPANEL_STREAMS_PER_SESSION, settings.VOLPANEL_STREAMS_PER_USER = 2, 3
    vid, second = _extending_with_a_second_session(demo, alice_client, delay=4.0)
    url = f"/volumes/{vid}/stream/"
    finished: list[tuple[int, str]] = []

    def hold(client: Client) -> threading.Thread:
        thread = threading.Thread(target=lambda: finished.append(read_raw(client, url)[::2]))
        thread.start()
        return thread

    def wait_open(n: int) -> None:
        deadline = time.monotonic() + 5
        while limits.open_streams() < n:
            assert time.monotonic() < deadline, limits.open_streams()
            time.sleep(0.02)

    held = [hold(alice_client), hold(alice_client)]
    wait_open(2)
    refused = [read_raw(alice_client, url) for _ in range(20)]
    assert {(status, headers["Retry-After"]) for status, headers, _ in refused} == {(429, "30")}
    page = alice_client.get(f"/volumes/{vid}/").content.decode()
    assert "sse-connect" not in page and 'data-testid="streams-full"' in page
    held.append(hold(second))  # the user's third: another session may still open one
    wait_open(3)
    assert read_raw(second, url)[0] == 429  # … but not a fourth for the user
    for thread in held:
        thread.join(20)
    assert [status for status, _ in finished] == [200, 200, 200]
    assert limits.open_streams() == 0  # every slot given back
    print(f"\nFIGURES streams of one session: 2 held, {len(refused)} more refused with 429")
