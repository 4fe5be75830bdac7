"""volpanel.asgi: a sync view's request crosses to a kept thread once; streamed answers and async views keep
Django's cycle."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core import signals
from django.test import Client

from tests.asgi_helpers import http_scope, on_own_loop, one_request
from tests.audit.conftest import T0, make_row
from volpanel.audit import exports


def serve(path: str, *, method: str = "GET", body: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None,
          hang_up_after: int | None = None) -> tuple[int, dict[str, str], list[bytes]]:
    """One request through the ASGI application as uvicorn runs it (tests.asgi_helpers.on_own_loop).
    `hang_up_after`: the client goes away once that many body messages have arrived."""
    from volpanel.asgi import application

    path, _, query = path.partition("?")
    scope = http_scope(path, method=method, query=query, headers=headers)
    status: list[int] = []
    answer_headers: dict[str, str] = {}
    chunks: list[bytes] = []

    async def run() -> None:
        gone = asyncio.Event()
        receive = one_request(body, gone)

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                answer_headers.update({k.decode().lower(): v.decode() for k, v in message["headers"]})
            elif message.get("body"):
                chunks.append(message["body"])
                if hang_up_after is not None and len(chunks) >= hang_up_after:
                    gone.set()
                    await asyncio.sleep(0.2)  # the handler hears of it before the next chunk

        await asyncio.wait_for(application(scope, receive, send), 20)

    on_own_loop(run)
    return status[0], answer_headers, chunks


def threads_of(signal: signals.Signal, record: list[str]) -> Callable[..., None]:
    def receiver(**_: Any) -> None:
        record.append(f"{signal is signals.request_started and 'start' or 'finish'}:{threading.current_thread().name}")
    return receiver


def test_a_sync_view_s_request_starts_runs_and_finishes_on_one_kept_thread(transactional_db: Any) -> None:
    record: list[str] = []
    started, finished = threads_of(signals.request_started, record), threads_of(signals.request_finished, record)
    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        first = serve("/healthz")
        second = serve("/healthz")
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)
    assert first[0] == second[0] == 200 and b"".join(first[2]) == b"".join(second[2])
    assert first[1]["content-type"] == "application/json"
    # Each request's start and finish on the same thread, one of the kept view threads; the next request finds
    # a kept thread rather than one started and joined for it (Django's own cycle names them ThreadPoolExecutor-).
    assert len(record) == 4
    names = [entry.split(":", 1)[1] for entry in record]
    assert [entry.split(":")[0] for entry in record] == ["start", "finish", "start", "finish"]
    assert names[0] == names[1] and names[2] == names[3]
    assert all(name.startswith("volpanel-view") for name in names)


def test_a_post_s_body_cookies_and_redirect_come_through(demo: Any, transactional_db: Any) -> None:
    # The login form: CSRF cookie from the GET, the POST's body read whole before the view's thread gets it.
    status, headers, chunks = serve("/login/")
    assert status == 200
    cookie = headers["set-cookie"].split(";", 1)[0]
    token = cookie.split("=", 1)[1]
    body = f"csrfmiddlewaretoken={token}&username=alice&password=demo&project=demo".encode()
    status, headers, _ = serve("/login/", method="POST", body=body, headers=[
        (b"cookie", cookie.encode()), (b"content-type", b"application/x-www-form-urlencoded"),
        (b"referer", b"http://testserver/login/")])
    # Keystone took the password: signed in, with a session cookie, and sent on to the volumes.
    assert status == 302 and headers["location"] == "/volumes/"
    assert "sessionid=" in headers["set-cookie"]


def test_an_unknown_path_is_django_s_404_page(transactional_db: Any) -> None:
    status, _, chunks = serve("/no/such/page/")
    assert status == 404 and chunks


def test_a_streamed_export_is_sent_batch_by_batch_and_stops_when_the_client_goes(
        monkeypatch: pytest.MonkeyPatch, transactional_db: Any) -> None:
    staff_client = Client()
    staff_client.force_login(get_user_model().objects.create_user("auditor", password="x", is_staff=True))
    for i in range(9):
        make_row(volume_name=f"s{i}", at=T0 + timedelta(minutes=i))
    monkeypatch.setattr(exports, "BATCH_SIZE", 3)
    pulled: list[int] = []
    real_next = exports._next_chunk

    def counting(source: Any) -> str | None:
        pulled.append(1)
        return real_next(source)

    monkeypatch.setattr(exports, "_next_chunk", counting)
    cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in staff_client.cookies.items()).encode()
    status, headers, chunks = serve("/audit/export/jsonl/", headers=[(b"cookie", cookie)])
    assert status == 200 and headers["content-type"].startswith("application/jsonl")
    assert [c.count(b"\n") for c in chunks] == [3, 3, 3]
    assert len(pulled) == 4  # three batches and the end
    pulled.clear()
    status, _, chunks = serve("/audit/export/jsonl/", headers=[(b"cookie", cookie)], hang_up_after=1)
    assert status == 200 and len(chunks) == 1
    assert len(pulled) < 4  # the client went: the rest was not read from the database


def test_the_access_line_is_written_once_the_answer_is_sent_with_the_request_s_id(
        transactional_db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    from volpanel import middleware

    events: list[str] = []
    written = threading.Event()

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            events.append(f"line:{record.getMessage()}:{getattr(record, 'request_id', '')}")
            written.set()

    real_info = middleware.access_log.info
    monkeypatch.setattr(middleware.access_log, "info", lambda *a, **k: (events.append("logged"), real_info(*a, **k)))
    recorder = Recorder(level=logging.INFO)
    middleware.access_log.addHandler(recorder)
    try:
        from volpanel.asgi import application

        scope = http_scope("/healthz", headers=[(b"x-request-id", b"req-asgi-0001")])

        async def run() -> None:
            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.body":
                    events.append("body sent")

            await application(scope, one_request(b"", asyncio.Event()), send)

        on_own_loop(run)
        assert written.wait(5), "no access line was written"
    finally:
        middleware.access_log.removeHandler(recorder)
    assert events == ["body sent", "logged", "line:GET /healthz 200:req-asgi-0001"]
