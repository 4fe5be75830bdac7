"""Status streams: Server-Sent Events that push the volume page's partials while the volume moves."""

from __future__ import annotations

from typing import AsyncIterator
from uuid import UUID

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from volpanel import auth, services, watchers
from volpanel.openstack.session import Credentials

HEARTBEAT_SECONDS = 15.0
# The partials the stream swaps, by SSE event name (the page's sse-swap attributes name the same).
PARTIALS = ("status", "actions", "progress", "history")


def sse(event: str, data: str, event_id: str = "") -> str:
    lines = [f"id: {event_id}"] if event_id else []
    lines.append(f"event: {event}")
    lines.extend(f"data: {line}" for line in data.splitlines() or [""])
    return "\n".join(lines) + "\n\n"


def _render(request: HttpRequest, state: watchers.State) -> list[tuple[str, str]]:
    from volpanel.views import volume_context

    assert state.page is not None
    context = volume_context(request, state.page)
    context["stream_problem"] = state.problem
    return [(name, render_to_string(f"volpanel/volume.html#{name}", context, request=request)) for name in PARTIALS]


def _announcement(request: HttpRequest, creds: Credentials, volume_id: str, attempt: str) -> str:
    """The page's announcement for the attempt it follows, once that attempt has its final outcome ("" before)."""
    from volpanel.views import describe

    entry = services.attempt(creds.project_id, volume_id, attempt)
    if entry is None or not entry.is_final:
        return ""
    level, text = describe(entry, settled=True)
    context = {"oob": True, "entry": entry, "flash_level": level, "flash_text": text}
    return render_to_string("volpanel/volume.html#announce", context, request=request)


@require_GET
async def volume_stream(request: HttpRequest, volume_id: UUID) -> HttpResponse:
    creds = await sync_to_async(auth.credentials)(request)
    if creds is None:
        return HttpResponse("Log in to follow this volume.", status=401, content_type="text/plain")
    cloud = services.connect(creds)
    subscription = watchers.Subscription(cloud, str(volume_id))
    # The attempt the page announced as accepted: its final outcome replaces that announcement once known.
    attempt = request.GET.get("attempt", "")

    async def events() -> AsyncIterator[str]:
        nonlocal attempt
        seen = 0
        try:
            # Browsers reconnect after `retry` ms if the stream drops; the first state is sent at once.
            yield "retry: 2000\n\n"
            while True:
                state = await subscription.next_state(seen, HEARTBEAT_SECONDS)
                if state is None:
                    yield ": heartbeat\n\n"
                    continue
                seen = state.version
                if state.page is None:
                    yield sse("gone", "This volume is not in your project, or no longer exists.")
                    yield sse("settled", "gone")
                    return
                for name, html in await sync_to_async(_render)(request, state):
                    yield sse(name, html, event_id=str(state.version))
                if attempt:
                    announcement = await sync_to_async(_announcement)(request, creds, str(volume_id), attempt)
                    if announcement:
                        yield sse("announce", announcement, event_id=str(state.version))
                        attempt = ""
                if state.settled:
                    yield sse("settled", state.page.volume.status, event_id=str(state.version))
                    return
        finally:
            subscription.close()

    response = StreamingHttpResponse(events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    # nginx and similar proxies buffer responses by default, which would hold events back.
    response["X-Accel-Buffering"] = "no"
    return response
