"""The admin audit pages: the filtered list (full page or htmx fragment), one row's detail with its chained
events, and the exports. Only admins reach them: the Keystone admin role, or a Django staff user."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from django.core.handlers.asgi import ASGIRequest
from django.db.models import prefetch_related_objects
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from volpanel.accounts import auth
from volpanel.audit import chart, exports
from volpanel.audit.access import admins_only, can_repair
from volpanel.audit.models import REPAIRABLE_OUTCOMES, AuditEntry, Outcome
from volpanel.audit.query import AuditFilter, Cursor, InvalidCursor, parse_filters
from volpanel.cloud import project_names
from volpanel.lib.http import HtmxHttpRequest
from volpanel.volumes import actions


def _volume_url(volume_id: str) -> str:
    # Only Cinder ids make a volume page link; anything else in an old or imported row stays plain text.
    try:
        return reverse("volume_detail", args=[UUID(volume_id)])
    except ValueError:
        return ""


@require_GET
@admins_only
def audit_list(request: HtmxHttpRequest) -> HttpResponse:
    """Newest first, keyset paged. htmx gets the `results` fragment (rows, and a slot the chart loads into)
    when the filters change, `rows` when it pages."""
    flt = parse_filters(request.GET)
    errors = list(flt.errors)
    paging = bool(request.htmx) and request.htmx.target == "audit-rows"
    cursor = None
    raw_cursor = request.GET.get("cursor", "")
    if raw_cursor:
        try:
            cursor = Cursor.decode(raw_cursor)
        except InvalidCursor as exc:
            errors.append(str(exc))
    found = flt.page(cursor)
    query = flt.querystring()
    context = {
        "filter": flt, "filters": flt.values, "errors": errors, "page": found,
        "newer_url": f"?{flt.querystring(cursor=found.newer)}" if found.newer else "",
        "older_url": f"?{flt.querystring(cursor=found.older)}" if found.older else "",
        "first_url": f"?{query}" if cursor is not None else "",
        "detail_query": flt.querystring(cursor=raw_cursor if cursor is not None else ""),
        "export_query": query,
        # The chart sums the filter's rows over days, so it is its own request (audit_chart), made once the rows
        # are shown: the rows never wait for it. Asked for with the first page only, not again for each page.
        "chart_url": (reverse("audit_chart") + (f"?{query}" if query else "")
                      if cursor is None and not paging else ""),
        "actions": [(a.name, a.label) for a in actions.AUDITED.values()], "outcomes": Outcome.choices,
        **_repairs(request, found.rows),
    }
    template = "volpanel/audit.html"
    if request.htmx:
        template += "#rows" if paging else "#results"
    # A filter or cursor that cannot be used is said next to the rows, which are still shown (200, as a search
    # form answers; htmx would not swap a 4xx).
    return render(request, template, context)


def _repairs(request: HtmxHttpRequest, rows: list[AuditEntry]) -> dict[str, Any]:
    """Each row's links to the attempt it repairs and to its repairs (two queries for the page), and whether this
    viewer may open a repair (the Keystone admin role: Django staff may read the trail but not act on volumes)."""
    prefetch_related_objects(rows, "repairs", "repaired_by")
    return {"can_repair": can_repair(request), "repairable": REPAIRABLE_OUTCOMES}


@require_GET
@admins_only
def audit_chart(request: HtmxHttpRequest) -> HttpResponse:
    """Actions per day by outcome for the list's filters: htmx (the list's slot, loaded after the rows) gets the
    `chart` fragment; without JavaScript the list links here and the chart is a page of its own."""
    flt = parse_filters(request.GET)
    query = flt.querystring()
    context = {"chart": chart.build(flt), "errors": flt.errors,
               "back_url": reverse("audit_list") + (f"?{query}" if query else "")}
    template = "volpanel/audit_chart.html"
    if request.htmx:
        template += "#chart"
    return render(request, template, context)


SECRET_WORDS = ("token", "password", "secret", "credential", "auth")


def sanitized(parameters: Any) -> list[tuple[str, str]]:
    """Parameters as key/value text; services store no secrets, and a key that looks like one is hidden anyway."""
    if not isinstance(parameters, dict):
        return [("value", json.dumps(parameters, ensure_ascii=False))]
    shown = []
    for key, value in sorted(parameters.items()):
        if any(word in str(key).lower() for word in SECRET_WORDS):
            shown.append((str(key), "(hidden)"))
        else:
            shown.append((str(key), value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)))
    return shown


def _facts(raw: str) -> list[tuple[str, str]]:
    """An event's facts (canonical JSON written by AuditEvent.append) as sorted key/value text."""
    data = json.loads(raw)
    if "parameters" in data:
        data["parameters"] = dict(sanitized(data["parameters"]))
    return [(key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
            for key, value in sorted(data.items())]


@require_GET
@admins_only
def audit_detail(request: HtmxHttpRequest, entry_uuid: UUID) -> HttpResponse:
    try:
        entry = AuditEntry.objects.get(uuid=entry_uuid)
    except AuditEntry.DoesNotExist:
        raise Http404("No audit row with that id.") from None
    flt = parse_filters(request.GET)
    back = flt.querystring(cursor=request.GET.get("cursor", "")[:512])
    events = [{"event": e, "facts": _facts(e.facts)} for e in entry.events.order_by("id")]
    return render(request, "volpanel/audit_detail.html", {
        "entry": entry, "events": events, "parameters": sanitized(entry.parameters),
        "back_url": reverse("audit_list") + (f"?{back}" if back else ""),
        "volume_url": _volume_url(entry.volume_id), **_repairs(request, [entry]),
        "project_names": project_names(auth.credentials(request)) if entry.volume_project_id else {},
    })


@require_GET
@admins_only
def audit_export(request: HtmxHttpRequest, fmt: str) -> HttpResponse | StreamingHttpResponse:
    """The current filter's rows as a download. A filter that cannot be applied refuses the export rather than
    hand over rows that were not asked for."""
    kind = exports.FORMATS.get(fmt)
    if kind is None:
        raise Http404("No such export format.")
    flt: AuditFilter = parse_filters(request.GET)
    if flt.errors:
        return HttpResponse("Nothing exported:\n" + "\n".join(flt.errors) + "\n", status=400,
                            content_type="text/plain; charset=utf-8")
    rows = flt.rows()
    body = exports.achunks(kind, rows) if isinstance(request, ASGIRequest) else exports.chunks(kind, rows)
    response = StreamingHttpResponse(body, content_type=kind.content_type)
    response["Content-Disposition"] = f'attachment; filename="{exports.filename(kind, timezone.now())}"'
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response
