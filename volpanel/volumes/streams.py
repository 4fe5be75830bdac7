"""Status streams: Server-Sent Events that push the volume page's partials while the volume moves."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any
from uuid import UUID

from asgiref.sync import SyncToAsync, sync_to_async
from django.db import connections
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from volpanel.accounts import auth
from volpanel.audit.models import AuditEntry
from volpanel.cloud import cloud_config, connect, disconnect, ended
from volpanel.openstack.cloud import Cloud, token_expired
from volpanel.openstack.errors import CloudError
from volpanel.openstack.session import Credentials, token_valid
from volpanel.volumes import limits, presenters, selectors, watchers
from volpanel.volumes.presenters import Panel

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0
# How often an open stream looks whether its session ended or its token was refused: it stops within about
# twice this (its own look, plus the shared read of ended tokens) of a logout in any process.
CHECK_SECONDS = 1.0
# How often Keystone is asked about each streamed token, for revocations made outside volpanel.
KEYSTONE_CHECK_SECONDS = 30.0
RETRY_MS = 2000
# The partials the stream swaps, by SSE event name (the page's sse-swap attributes name the same).
PARTIALS = ("status", "actions", "progress", "history")


def sse(event: str, data: str, event_id: str = "") -> str:
    lines = [f"id: {event_id}"] if event_id else []
    lines.append(f"event: {event}")
    lines.extend(f"data: {line}" for line in data.splitlines() or [""])
    return "\n".join(lines) + "\n\n"


@dataclass(frozen=True)
class _Render:
    # (event name, finished SSE event); the action panel's event is built per viewer from `panel`.
    events: list[tuple[str, str]]
    panel: Panel
    # Admins' History links each row to its audit detail: a second render of that partial, shared by admins.
    admin_history: str = ""


def _render(state: watchers.State) -> _Render:
    """The partials of a state, rendered once for every stream of it (hundreds of viewers, one render)."""
    with state.render_lock:
        cached = state.renders.get("partials")
        if cached is None:
            assert state.page is not None
            context = presenters.partials_context(state.page, state.history)
            context["stream_problem"] = state.problem
            context["can_audit"] = False
            events = []
            admin_history = ""
            for i, name in enumerate(PARTIALS):
                if name == "actions":
                    events.append((name, ""))  # the shared panel, personalised per viewer (presenters.Panel)
                    continue
                html = render_to_string(f"volpanel/volume.html#{name}", context)
                # The id rides on the batch's last event only: a browser that reports it got the whole batch.
                event_id = state.event_id if i == len(PARTIALS) - 1 else ""
                events.append((name, sse(name, html, event_id)))
                if name == "history":
                    admin_html = render_to_string("volpanel/volume.html#history", {**context, "can_audit": True})
                    admin_history = sse(name, admin_html, event_id)
            cached = state.renders["partials"] = _Render(events, context["panel"], admin_history)
        return cached


async def shared_render(state: watchers.State, name: Any, render: Callable[[], Any]) -> Any:
    """`render()` of this state, made once for every stream of it and kept in `state.renders[name]` (the
    render itself stores it there)."""
    done = state.renders.get(name)
    if done is not None:
        return done
    # One render in flight per state: the other streams of it (all on this event loop) await the same task
    # rather than queueing hundreds of executor jobs. Shielded, so a viewer who leaves meanwhile does not cancel
    # it for the rest. Not thread-sensitive: rendering needs no request thread.
    key = ("pending", name, asyncio.get_running_loop())
    pending: asyncio.Future[Any] | None = state.renders.get(key)
    if pending is None:
        pending = state.renders[key] = asyncio.ensure_future(sync_to_async(render, thread_sensitive=False)())
    return await asyncio.shield(pending)


async def _rendered(state: watchers.State) -> _Render:
    rendered: _Render = await shared_render(state, "partials", lambda: _render(state))
    return rendered


async def _batch(request: HttpRequest, state: watchers.State, admin: bool) -> str:
    render = await _rendered(state)
    token = get_token(request)
    last = len(render.events) - 1
    return "".join(sse(name, render.panel.personal(token), state.event_id if i == last else "") if name == "actions"
                   else render.admin_history if admin and name == "history"
                   else text for i, (name, text) in enumerate(render.events))


def _release_request_thread() -> None:
    """Let the thread Django's ASGI handler keeps for this request's sync parts go now.

    The handler gives each request a one-thread executor for its middleware and signals and shuts it down when
    the response ends; for a stream that is minutes later, a thread per open stream. Everything sync is done
    by the time the body streams (the closing signals get a fresh thread from asgiref, then it is shut down)."""
    context = SyncToAsync.thread_sensitive_context.get(None)
    executor = SyncToAsync.context_to_thread_executor.pop(context, None) if context is not None else None
    if executor is not None:
        executor.shutdown(wait=False)


def _attempt(creds: Credentials, volume_id: str, attempt: str) -> AuditEntry | None:
    try:
        return selectors.attempt(creds.project_id, volume_id, attempt)
    finally:
        connections.close_all()  # a pool thread: nothing would close it otherwise


def _announcement(request: HttpRequest, entry: AuditEntry) -> str:
    """The page's announcement of an attempt's final outcome."""
    level, text = presenters.describe(entry, settled=True)
    context = {"oob": True, "entry": entry, "flash_level": level, "flash_text": text}
    return render_to_string("volpanel/volume.html#announce", context, request=request)


class _Endings:
    """Which tokens of this event loop's open streams ended — revoked by volpanel in any process (logout, a replaced
    session token), refused by the cloud, or revoked at Keystone — read for all the loop's streams at once: one
    cache read every CHECK_SECONDS, and one Keystone check per token every KEYSTONE_CHECK_SECONDS, however many
    streams share it."""

    def __init__(self) -> None:
        self.open: Counter[str] = Counter()
        self.credentials: dict[str, Credentials] = {}
        self.checked: dict[str, float] = {}
        self.ended: set[str] = set()
        self.task: asyncio.Task[None] | None = None

    def watch(self, cloud: Cloud) -> None:
        self.open[cloud.token_id] += 1
        self.credentials[cloud.token_id] = cloud.credentials
        self.checked.setdefault(cloud.token_id, time.monotonic())
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._run())

    def unwatch(self, cloud: Cloud) -> None:
        self.open[cloud.token_id] -= 1
        if self.open[cloud.token_id] <= 0:
            for table in (self.open, self.credentials, self.checked):
                table.pop(cloud.token_id, None)
            self.ended.discard(cloud.token_id)
        if not self.open and self.task is not None:
            self.task.cancel()  # no stream left to look for: not a second more on this loop
            self.task = None

    async def _run(self) -> None:
        while self.open:
            now = time.monotonic()
            due = [name for name, at in self.checked.items()
                   if now - at >= KEYSTONE_CHECK_SECONDS and name not in self.ended]
            self.checked.update(dict.fromkeys(due, now))
            try:
                self.ended |= await asyncio.get_running_loop().run_in_executor(
                    _LOOKER, _look, list(self.open), [self.credentials[name] for name in due])
            except Exception as exc:  # the database or Keystone away: look again next time, never stop looking
                log.warning("could not read which streamed tokens ended: %s", exc)
            await asyncio.sleep(CHECK_SECONDS)


def _disconnect(creds: Credentials) -> None:
    try:
        disconnect(creds)  # tells the other processes through the shared cache: a database
    finally:
        connections.close_all()


def _look(names: list[str], due: list[Credentials]) -> set[str]:
    try:
        for creds in due:
            # Asked afresh (token_honoured would trust its minute-long memo): refused, disconnect() marks it
            # ended, read just below.
            try:
                valid = token_valid(cloud_config(), creds)
            except CloudError as exc:
                if exc.kind != "auth":
                    log.info("could not ask Keystone about a streamed token: %s", exc)
                    continue
                valid = False
            if not valid:
                disconnect(creds)
        return ended(names)
    finally:
        connections.close_all()  # a pool thread: nothing would close it otherwise


# One thread per process reads the ended tokens for every stream (and closes its database connection each time).
_LOOKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stream-endings")
_endings: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Endings] = weakref.WeakKeyDictionary()


def _endings_here() -> _Endings:
    loop = asyncio.get_running_loop()
    endings = _endings.get(loop)
    if endings is None:
        endings = _endings[loop] = _Endings()
    return endings


SESSION_ENDED = {"oob": True, "flash_level": "warning",
                 "flash_text": "Your session has ended, so this page no longer follows the volume. Reload the page "
                               "to log in again."}


# What a stream sends for a new state: the page's partials, rendered for this viewer (its CSRF token, form keys).
Batch = Callable[[HttpRequest, Cloud, watchers.State], Awaitable[str]]


async def _tenant_batch(request: HttpRequest, cloud: Cloud, state: watchers.State) -> str:
    return await _batch(request, state, cloud.credentials.is_admin)


async def _events(request: HttpRequest, creds: Credentials, volume_id: str, client_has: str,
                  attempt: str, session_expires: datetime, batch: Batch) -> AsyncGenerator[str, None]:
    _release_request_thread()
    # Browsers reconnect after `retry` ms if the stream drops, sending the last id they received.
    yield f"retry: {RETRY_MS}\n\n"
    cloud = connect(creds)
    try:
        # The watcher's state was fetched with some viewer's token: this viewer's own must read the volume first.
        await sync_to_async(selectors.prove_access, thread_sensitive=False)(cloud, volume_id)
    except CloudError as exc:
        if exc.kind == "auth":
            await sync_to_async(_disconnect, thread_sensitive=False)(creds)
            notice = {"oob": True, "flash_level": "warning",
                      "flash_text": "Your session with the cloud has expired, so this page no longer follows the "
                                    "volume. Reload the page to log in again."}
            yield sse("announce", render_to_string("volpanel/volume.html#announce", notice)) + sse("settled", "gone")
        elif exc.status == 404:
            yield sse("gone", "This volume is not in your project, or no longer exists.") + sse("settled", "gone")
        # Otherwise the cloud did not answer: end without `settled`, and the browser tries again after `retry`.
        return
    # Subscribed only once the response streams: a client gone before that leaves no subscriber behind.
    subscription = watchers.Subscription(cloud, volume_id)
    endings = _endings_here()
    endings.watch(cloud)
    seen = 0
    quiet = 0.0
    try:
        while True:
            state = await subscription.next_state(seen, CHECK_SECONDS)
            # The stream stops with its session (logged out, replaced, expired) or its token (refused anywhere):
            # the watcher it shares may poll on with another viewer's token, and must show this one nothing more.
            if (cloud.token_id in endings.ended or subscription.refused(cloud) or cloud.expired
                    or datetime.now(dt_timezone.utc) >= session_expires):
                yield (sse("announce", render_to_string("volpanel/volume.html#announce", SESSION_ENDED))
                       + sse("settled", "gone"))
                return
            if state is None:
                quiet += CHECK_SECONDS
                if quiet >= HEARTBEAT_SECONDS:
                    quiet = 0.0
                    yield ": heartbeat\n\n"
                continue
            quiet = 0.0
            seen = state.version
            if state.page is None:
                yield sse("gone", "This volume is not in your project, or no longer exists.") + sse("settled", "gone")
                return
            out = ""
            if state.event_id != client_has:
                out = await batch(request, cloud, state)
                client_has = state.event_id
            if attempt:
                # The attempt is among the watcher's recent rows; the database is asked only if it is not.
                entry = next((e for e in state.history if str(e.uuid) == attempt), None)
                if entry is None:
                    entry = await sync_to_async(_attempt, thread_sensitive=False)(creds, volume_id, attempt)
                if entry is None:
                    attempt = ""  # not this project's, or not this volume's: nothing to announce, ever
                elif entry.is_final:
                    out += sse("announce", await sync_to_async(_announcement, thread_sensitive=False)(request, entry))
                    attempt = ""
            if state.settled:
                # Also when the browser already has these partials (it reconnected after the last batch):
                # only `settled` closes its EventSource.
                out += sse("settled", state.page.volume.status, event_id=state.event_id)
            if out:
                yield out
            if state.settled:
                return
    finally:
        endings.unwatch(cloud)
        subscription.close()


async def _counted(events: AsyncGenerator[str, None], slot: limits.Slot) -> AsyncIterator[str]:
    try:
        async for chunk in events:
            yield chunk
    finally:
        slot.release()
        await events.aclose()  # its own `finally` (unsubscribe) now, not when it is collected


def credentials(request: HttpRequest) -> tuple[Credentials | None, datetime, int]:
    """The session's credentials, when it expires, and how long it must wait before calling the cloud again
    (limits.cloud_wait; a stream calls it once to prove the viewer may read the volume)."""
    try:
        creds = auth.credentials(request)
        wait = limits.cloud_wait(request.session.session_key or "") if creds is not None else 0
        return creds, request.session.get_expiry_date(), wait
    finally:
        # A stream stays open while the volume moves: it must not pin a database connection meanwhile
        # (a thousand streams would exhaust PostgreSQL's connections). The session is read; close them.
        connections.close_all()


@require_GET
async def volume_stream(request: HttpRequest, volume_id: UUID) -> HttpResponseBase:
    creds, session_expires, wait = await sync_to_async(credentials)(request)
    if creds is None or token_expired(creds):
        return HttpResponse("Log in to follow this volume.", status=401, content_type="text/plain")
    return respond(request, creds, str(volume_id), session_expires, wait, _tenant_batch)


def respond(request: HttpRequest, creds: Credentials, volume_id: str, session_expires: datetime, wait: int,
            batch: Batch) -> HttpResponseBase:
    """The stream of the volume's states for a viewer already let in, each state sent as `batch` renders it."""
    slot = limits.Slot.take(request.session.session_key or "", creds.user_id) if not wait else None
    if slot is None:
        # The page falls back to its behaviour without a stream: the sse extension backs off and tries again.
        refused = HttpResponse("Too many live pages open for this session or user, or too many requests: "
                               "reload the page for the latest status.", status=429, content_type="text/plain")
        refused["Retry-After"] = str(wait or limits.RETRY_AFTER_SECONDS)
        return refused
    # A reconnecting browser names the last state it got; an id from another worker or an older watcher is
    # just as good, since ids hash the content shown.
    client_has = request.headers.get("Last-Event-ID", "")
    # The attempt the page announced as accepted: its final outcome replaces that announcement once known.
    attempt = request.GET.get("attempt", "")
    events = _counted(_events(request, creds, volume_id, client_has, attempt, session_expires, batch), slot)
    # A response never streamed (the client left first) never runs the generator's `finally`: its collection
    # releases the slot instead.
    weakref.finalize(events, slot.release)
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    # nginx and similar proxies buffer responses by default, which would hold events back.
    response["X-Accel-Buffering"] = "no"
    return response
