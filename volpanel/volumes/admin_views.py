"""The admin volume page (any project's volume, with the facts Cinder shows admins) and its repair actions
(issue 16). Admins only (audit.access.cloud_admins_only): a member's post is refused 403 before the cloud is
called. A page opened from a failed audit row (`?repair=<row uuid>`) shows that row, Cinder's user messages for
the volume and the suggested repair, and the repair's row links back to it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import UUID, uuid4

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from volpanel.accounts import auth
from volpanel.audit.access import cloud_admins_only
from volpanel.audit.models import REPAIRABLE_OUTCOMES, AuditEntry, Outcome
from volpanel.cloud import project_names
from volpanel.lib.http import HtmxHttpRequest
from volpanel.openstack.cinder import Volume
from volpanel.openstack.cloud import Cloud
from volpanel.openstack.errors import CloudError
from volpanel.volumes import actions, presenters, rules, selectors, services
from volpanel.volumes.forms import AllVolumesFilter, VolumeActionForm
from volpanel.volumes.selectors import VolumePage
from volpanel.volumes.views import _actor, _cloud, cloud_budget, cloud_errors, earlier_attempt

HISTORY_ROWS = 20


def _admin_page(cloud: Cloud, volume_id: str) -> VolumePage:
    return with_admin_facts(cloud, selectors.load_volume_page(cloud, volume_id))


def with_admin_facts(cloud: Cloud, page: VolumePage) -> VolumePage:
    """The volume page's reads plus the volume's snapshots whatever their project (Force delete and Migrate
    refuse a volume with any), and the scheduler's pools for Migrate (none if Cinder does not list them)."""
    volume_id = page.volume.id
    snapshots = cloud.cinder.list_snapshots(volume_id, all_projects=True)
    try:
        pools = tuple(cloud.cinder.scheduler_pools())
    except CloudError as exc:
        if exc.kind == "auth":
            raise
        pools = ()
    return replace(page, pools=pools, snapshots=snapshots)


def failed_row(raw: str, volume_id: str) -> AuditEntry | None:
    """The failed attempt on this volume a repair was opened from, or None (no such row: the page opens plain)."""
    try:
        wanted = UUID(raw)
    except ValueError:
        return None
    return AuditEntry.objects.filter(uuid=wanted, volume_id=volume_id, outcome__in=REPAIRABLE_OUTCOMES).first()


def repair_url(entry: AuditEntry) -> str:
    """The admin page of the row's volume, opened to repair that row."""
    return reverse("admin_volume", args=[entry.volume_id]) + f"?repair={entry.uuid}"


def admin_history(volume_id: str) -> list[AuditEntry]:
    """Every project's attempts on the volume, newest first, with the rows they repair and their repairs."""
    return list(AuditEntry.objects.filter(volume_id=volume_id).select_related("repairs")
                .prefetch_related("repaired_by")[:HISTORY_ROWS])


def admin_context(page: VolumePage, failed: AuditEntry | None, history: list[AuditEntry],
                  bound: VolumeActionForm | None = None, names: dict[str, str] | None = None) -> dict[str, Any]:
    """The admin page's context, for the page and for every partial the admin stream sends (no request)."""
    suggestion = rules.suggested_reset(failed.status_before, page.volume.status) if failed else ""
    forms = {}
    for spec in actions.ADMIN_SPECS:
        if bound is not None and bound.action_name == spec.name:
            forms[spec.name] = bound
            continue
        initial = {"idempotency_key": uuid4().hex, "repairs": failed.uuid if failed else None,
                   **spec.initial(page)}
        if spec.name == "reset_status" and suggestion:
            initial["status"] = suggestion
        forms[spec.name] = spec.bind(page, initial=initial)
    # Followed live while the volume or an attempt on it moves (a migration moves while the status stands).
    watching = (page.volume.is_transitional or page.volume.migration_status in rules.MIGRATING
                or any(not e.is_final for e in history))
    return {
        "page": page, "volume": page.volume, "failed": failed, "suggestion": suggestion,
        "specs": actions.ADMIN_SPECS, "forms": forms, "availability": actions.availability(page),
        "history": history, "repairable": REPAIRABLE_OUTCOMES, "watching": watching,
        "project_names": names or {},
    }


def _context(request: HttpRequest, page: VolumePage, failed: AuditEntry | None,
             bound: VolumeActionForm | None = None) -> dict[str, Any]:
    return admin_context(page, failed, admin_history(page.volume.id), bound,
                         project_names(auth.credentials(request)))


@require_GET
@cloud_admins_only
@cloud_budget
@cloud_errors
def admin_volume(request: HtmxHttpRequest, volume_id: UUID) -> HttpResponse:
    page = _admin_page(_cloud(request), str(volume_id))
    failed = failed_row(request.GET.get("repair", ""), page.volume.id)
    return render(request, "volpanel/admin_volume.html", _context(request, page, failed))


@require_POST
@cloud_admins_only
@cloud_budget
@cloud_errors
def admin_volume_action(request: HtmxHttpRequest, volume_id: UUID, action: str) -> HttpResponse:
    spec = actions.ADMIN_BY_NAME.get(action)
    if spec is None:
        raise Http404("No such admin action.")
    cloud = _cloud(request)
    page = _admin_page(cloud, str(volume_id))
    failed = failed_row(request.POST.get("repairs", ""), page.volume.id)
    back = reverse("admin_volume", args=[volume_id]) + (f"?repair={failed.uuid}" if failed else "")
    form = spec.bind(page, request.POST)
    earlier = earlier_attempt(request, str(volume_id), spec, form)
    if earlier is not None:
        return _answer(request, earlier, back)
    if form.errors or not form.is_valid():
        return render(request, "volpanel/admin_volume.html", _context(request, page, failed, bound=form),
                      status=400)
    try:
        entry = actions.run(spec.name, cloud=cloud, actor=_actor(request, form.cleaned_data["idempotency_key"]),
                            volume=page.volume, **form.cleaned_data)
    except services.DuplicateKeyError as exc:
        form.add_error(None, str(exc))
        return render(request, "volpanel/admin_volume.html", _context(request, page, failed, bound=form),
                      status=400)
    if entry.action == actions.FORCE_DELETE.name and entry.outcome in (Outcome.ACCEPTED, Outcome.SUCCEEDED):
        back = reverse("admin_volume_list")  # the volume's page is about to be gone
    return _answer(request, entry, back)


def _answer(request: HttpRequest, entry: AuditEntry, back: str) -> HttpResponse:
    level, text = presenters.describe(entry)
    request_id = f" Request id {entry.request_id}." if entry.request_id else ""
    getattr(messages, level)(request, text + request_id)
    return HttpResponseRedirect(back)


PAGE_SIZE = 50


@require_GET
@cloud_admins_only
@cloud_budget
@cloud_errors
def admin_volume_list(request: HtmxHttpRequest) -> HttpResponse:
    """Every project's volumes (Cinder's all_tenants), filtered by project, status and name or id, a page at a
    time by Cinder's marker. A bad filter is said next to its field and Cinder is not asked."""
    names = project_names(auth.credentials(request))
    form = AllVolumesFilter(request.GET if request.GET else None, projects=names)
    volumes: list[Volume] = []
    next_marker = ""
    if not form.is_bound or form.is_valid():
        data = form.cleaned_data if form.is_bound else {}
        cloud = _cloud(request)
        name, marker = data.get("name") or "", data.get("marker")
        try:
            volume_id = str(UUID(name))
        except ValueError:
            volume_id = ""
        try:
            if volume_id:
                volumes = [cloud.cinder.get_volume(volume_id)]
            else:
                stuck = data.get("stuck")
                volumes, next_marker = cloud.cinder.list_all_volumes(
                    project_id=data.get("project") or "", status=data.get("status") or "", name=name,
                    marker=str(marker) if marker else "", limit=PAGE_SIZE,
                    updated_before=timezone.now() - timedelta(minutes=stuck) if stuck else None)
        except CloudError as exc:
            if exc.status != 404 or exc.service != "volume":
                raise
            if marker:  # the page's first volume was deleted since the link was made
                form.add_error(None, "The volume this page started after is gone; start from the first page.")
            volumes = []
    query = {k: v for k, v in request.GET.items() if k != "marker" and v}
    return render(request, "volpanel/admin_volumes.html", {
        "form": form, "volumes": volumes, "project_names": names,
        "next_url": "?" + urlencode({**query, "marker": next_marker}) if next_marker else "",
        "first_url": "?" + urlencode(query) if request.GET.get("marker") else "",
    })
