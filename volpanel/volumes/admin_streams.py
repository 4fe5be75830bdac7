"""The admin volume page's stream (issue 16): the admin page's partials — status with host and migration status,
Cinder's messages, the repair panel, every project's audit rows — pushed while a repair, a migration or a tenant's
action moves the volume. Admins only, checked as for the admin pages before anything is asked of the cloud."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from asgiref.sync import sync_to_async
from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from volpanel.audit.access import can_repair
from volpanel.cloud import project_names
from volpanel.openstack.cloud import Cloud, token_expired
from volpanel.openstack.errors import CloudError
from volpanel.volumes import admin_views, streams, watchers
from volpanel.volumes.presenters import CSRF_PLACEHOLDER, Panel

TEMPLATE = "volpanel/admin_volume.html"


@dataclass(frozen=True)
class _AdminRender:
    events: list[tuple[str, str]]  # (event name, finished SSE event); "actions" is built per viewer from `panel`
    panel: Panel


def _render(state: watchers.State, cloud: Cloud, repair: str) -> _AdminRender:
    """The admin partials of a state, once for every admin stream of it (per failed row the page repairs).

    The watcher's page is the admin token's read of the volume (host, migration status, attachments); the admin
    facts (snapshots of every project, the scheduler's pools) and every project's rows are read here, once per
    state. `cloud` is one admin viewer's: the render goes to admin streams only."""
    assert state.page is not None
    try:
        try:
            page = admin_views.with_admin_facts(cloud, state.page)
        except CloudError:
            page = state.page  # the state's own facts: the panel's rules say what they cannot offer without them
        failed = admin_views.failed_row(repair, page.volume.id) if repair else None
        context = admin_views.admin_context(page, failed, admin_views.admin_history(page.volume.id),
                                            names=project_names(cloud.credentials))
        context["stream_problem"] = state.problem
        keys = tuple(form.initial["idempotency_key"] for form in context["forms"].values()
                     if "idempotency_key" in form.initial)
        panel = Panel(render_to_string(f"{TEMPLATE}#actions", {**context, "csrf_token": CSRF_PLACEHOLDER}), keys)
        events = []
        for i, name in enumerate(streams.PARTIALS):
            event_id = state.event_id if i == len(streams.PARTIALS) - 1 else ""
            if name == "actions":
                events.append((name, ""))
                continue
            events.append((name, streams.sse(name, render_to_string(f"{TEMPLATE}#{name}", context), event_id)))
        rendered = state.renders[("admin", repair)] = _AdminRender(events, panel)
        return rendered
    finally:
        connections.close_all()  # a pool thread: nothing would close it otherwise


def _batch_for(repair: str) -> streams.Batch:
    async def batch(request: HttpRequest, cloud: Cloud, state: watchers.State) -> str:
        rendered: _AdminRender = await streams.shared_render(state, ("admin", repair),
                                                             lambda: _render(state, cloud, repair))
        token = get_token(request)
        last = len(rendered.events) - 1
        return "".join(streams.sse(name, rendered.panel.personal(token), state.event_id if i == last else "")
                       if name == "actions" else text for i, (name, text) in enumerate(rendered.events))
    return batch


def _may_repair(request: HttpRequest) -> bool:
    try:
        return can_repair(request)
    finally:
        connections.close_all()  # as streams.credentials: a stream must not pin a database connection


@require_GET
async def admin_volume_stream(request: HttpRequest, volume_id: UUID) -> HttpResponseBase:
    """The admin's token follows the volume through the watcher keyed by the admin's project — the same one
    that follows the admin's own repairs (watchers.follow with the admin's cloud), so a repair and its stream
    share one poller."""
    creds, session_expires, wait = await sync_to_async(streams.credentials)(request)
    if creds is None or token_expired(creds):
        return HttpResponse("Log in to follow this volume.", status=401, content_type="text/plain")
    # As the admin pages (audit.access.cloud_admins_only): the Keystone admin role of a token Keystone still
    # honours. A member is refused here, before any cloud call.
    if not await sync_to_async(_may_repair)(request):
        return HttpResponse("Following volumes as an administrator is for cloud administrators.", status=403,
                            content_type="text/plain")
    repair = request.GET.get("repair", "")
    try:
        repair = str(UUID(repair)) if repair else ""
    except ValueError:
        repair = ""  # as the page: an unknown row opens it plain
    return streams.respond(request, creds, str(volume_id), session_expires, wait, _batch_for(repair))
