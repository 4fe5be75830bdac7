"""Thin typed views: pages, htmx partials and action POSTs. They never talk to OpenStack; services do."""

from __future__ import annotations

import functools
import hashlib
import logging
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Callable
from uuid import UUID, uuid4

from django.contrib import messages
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from volpanel import actors, auth, rules, services, throttle
from volpanel.forms import FORMS, VolumeActionForm
from volpanel.models import Action, AuditEntry, Outcome
from volpanel.openstack import session as os_session
from volpanel.openstack.errors import CloudError

log = logging.getLogger(__name__)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def cloud_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """What the cloud's failures look like to a tenant: an expired token sends them to log in again, a volume
    outside their project is a 404, anything else a page that says what the cloud said — never a traceback."""

    @functools.wraps(view)
    def wrapper(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except CloudError as exc:
            if exc.kind == "auth":
                resume = _resumable(request, kwargs)
                creds = auth.credentials(request)
                if creds is not None:
                    services.disconnect(creds)
                auth.sign_out(request)
                messages.info(request, "Your session with the cloud has expired. Log in again to continue.")
                if resume:
                    # What the tenant typed survives the new login: the volume page opens the form filled in.
                    request.session[RESUME_KEY] = resume
                    return auth.login_redirect(request, next_url=resume["next"])
                return auth.login_redirect(request)
            if exc.status == 404 and exc.service == "volume":
                raise Http404("No such volume in your project.") from exc
            log.warning("cloud error on %s: %s", request.path, exc)
            return render(request, "volpanel/cloud_error.html", {"error": exc}, status=502)

    return wrapper


RESUME_KEY = "volpanel.resume"


def _resumable(request: HttpRequest, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """The action form a tenant was submitting, to refill after they log in again."""
    action, volume_id = kwargs.get("action"), kwargs.get("volume_id")
    if request.method != "POST" or action not in FORMS or volume_id is None:
        return None
    data = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}
    # The refilled form is a new form: its key must not find the attempt the expired token spoiled.
    data["idempotency_key"] = uuid4().hex
    return {"action": action, "volume_id": str(volume_id), "data": data,
            "next": reverse("volume_detail", args=[volume_id])}


def _actor(request: HttpRequest, idempotency_key: str = "") -> services.Actor:
    creds = auth.credentials(request)
    assert creds is not None
    return services.Actor(
        credentials=creds,
        source_ip=request.META.get("REMOTE_ADDR") or None,
        user_agent=request.headers.get("User-Agent", ""),
        idempotency_key=idempotency_key,
    )


def _cloud(request: HttpRequest) -> Any:
    creds = auth.credentials(request)
    assert creds is not None
    return services.connect(creds)


# --- login ----------------------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
def login_view(request: HtmxHttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = ""
    context: dict[str, Any] = {"next": next_url, "values": {"domain": "Default"}}
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in ("username", "project", "domain")}
        values["domain"] = values["domain"] or "Default"
        context["values"] = values
        password = request.POST.get("password", "")
        if not values["username"] or not password:
            context["error"] = "Enter your user name and password."
            return render(request, "volpanel/login.html", context, status=400)
        address = request.META.get("REMOTE_ADDR") or "unknown"
        if throttle.is_locked(values["username"], address):
            # Refused before Keystone hears of it, whatever the password: guessing gains nothing here.
            context["error"] = (f"Too many failed logins. Wait {throttle.WINDOW_SECONDS // 60} minutes, "
                                "or ask your cloud administrator to check the account.")
            return render(request, "volpanel/login.html", context, status=429)
        config = services.cloud_config()
        try:
            creds = os_session.login(config, values["username"], password, values["project"], values["domain"])
            projects = [{"id": p.id, "name": p.name} for p in os_session.list_projects(config, creds)]
        except CloudError as exc:
            if exc.kind in ("auth",) or exc.status in (401, 403):
                throttle.record_failure(values["username"], address)
                # One message for a wrong user, password or project: it tells an attacker nothing.
                context["error"] = "The user name, password or project is not right."
                return render(request, "volpanel/login.html", context, status=401)
            context["error"] = f"The cloud's identity service could not be reached: {exc.first_line}"
            return render(request, "volpanel/login.html", context, status=502)
        throttle.clear(values["username"])
        auth.sign_in(request, creds, projects)
        return redirect(next_url or reverse("volume_list"))
    if auth.credentials(request):
        return redirect("volume_list")
    return render(request, "volpanel/login.html", context)


@require_POST
def logout_view(request: HtmxHttpRequest) -> HttpResponse:
    creds = auth.credentials(request)
    if creds:
        actors.forget(services.cloud_config().auth_url, creds.user_id, creds.project_id, only=creds)
        try:
            os_session.revoke(services.cloud_config(), creds)
        except CloudError as exc:
            log.info("token revocation at logout failed: %s", exc)
        services.disconnect(creds)
    auth.sign_out(request)
    return redirect("login")


@require_POST
@auth.login_required
@cloud_errors
def switch_project(request: HtmxHttpRequest) -> HttpResponse:
    creds = auth.credentials(request)
    assert creds is not None
    project_id = request.POST.get("project_id", "")
    known = request.session.get(auth.PROJECTS_KEY, [])
    if project_id not in {p["id"] for p in known}:
        messages.error(request, "You are not a member of that project.")
        return redirect("volume_list")
    new = os_session.rescope(services.cloud_config(), creds, project_id)
    services.disconnect(creds)
    auth.sign_in(request, new, known)
    messages.success(request, f"Now working in project {new.project_name}.")
    return redirect("volume_list")


@require_GET
def home(request: HtmxHttpRequest) -> HttpResponse:
    return redirect("volume_list" if auth.credentials(request) else "login")


# --- volumes --------------------------------------------------------------------------------------------
@require_GET
@auth.login_required
@cloud_errors
def volume_list(request: HtmxHttpRequest) -> HttpResponse:
    volumes = services.list_volumes(_cloud(request))
    template = "volpanel/volume_list.html#volumes" if request.htmx else "volpanel/volume_list.html"
    return render(request, template, {"volumes": volumes})


def volume_context(request: HttpRequest, page: services.VolumePage, *, bound: VolumeActionForm | None = None,
                   entry: AuditEntry | None = None) -> dict[str, Any]:
    """The context of the volume page and of every partial of it."""
    creds = auth.credentials(request)
    assert creds is not None
    history = services.history(creds.project_id, page.volume.id)
    if entry is not None:
        # The answer speaks from the same read as the History below it: a watcher may have settled the row since
        # the cloud accepted it, and the announcement, its outcome and the stream link must all say so.
        fresh = next((e for e in history if e.pk == entry.pk), None)
        if fresh is not None:
            fresh.duplicate = getattr(entry, "duplicate", False)  # type: ignore[attr-defined]
            entry = fresh
    return partials_context(page, history, bound=bound, entry=entry)


def partials_context(page: services.VolumePage, history: Sequence[AuditEntry], *,
                     bound: VolumeActionForm | None = None, entry: AuditEntry | None = None) -> dict[str, Any]:
    """volume_context without the request: the status stream renders the same partials from a watcher's state.
    The action panel comes as `panel` (shared, to be personalised) unless a bound form must be shown in it."""
    watching = page.volume.is_transitional or any(not e.is_final for e in history)
    context: dict[str, Any] = {
        "page": page,
        "volume": page.volume,
        "entry": entry,
        "history": history,
        "watching": watching,
        "server_names": page.server_names,
        "outcome_labels": dict(Outcome.choices),
        "action_labels": dict(Action.choices),
        "extend_guidance": services.EXTEND_GUIDANCE,
    }
    if bound is None:
        context["panel"] = action_panel(page)
    else:
        context.update(_panel_context(page, bound))
    context["flash_level"], context["flash_text"] = describe(entry) if entry else ("", "")
    return context


def _panel_context(page: services.VolumePage, bound: VolumeActionForm | None = None) -> dict[str, Any]:
    """What the `actions` partial reads: each action's availability and form (fresh keys for unbound ones)."""
    availability = page.availability
    forms = {}
    for name, form_class in FORMS.items():
        if bound is not None and bound.action_name == name:
            forms[name] = bound
        elif availability[name].enabled:
            initial = {"idempotency_key": uuid4().hex}
            if name == "revert" and page.latest_snapshot:
                initial["snapshot_id"] = page.latest_snapshot.id
            if name == "extend":
                initial["new_size"] = page.volume.size + 1
            forms[name] = form_class(page=page, initial=initial, auto_id=f"id_{name}_%s")
    return {
        "page": page,
        "volume": page.volume,
        "availability": availability,
        "forms": forms,
        "open_action": bound.action_name if bound is not None else "",
        # Without Compute, server attach is left out (the note says why) unless a stale form just posted to it.
        "action_menu": [item for item in ACTION_MENU if item[0] != "attach_server" or page.features.has_compute
                        or (bound is not None and bound.action_name == "attach_server")],
        "services_note": services_note(page.features),
    }


@dataclass(frozen=True)
class Panel:
    """The action panel of one volume state, rendered with a placeholder CSRF token and placeholder form keys."""

    html: str
    keys: tuple[str, ...]

    def personal(self, csrf_token: str) -> SafeString:
        """This panel for one response: its CSRF token, and an idempotency key per form of its own (two viewers,
        or two loads by one, must never share a key: the second post would be taken for the first)."""
        html = self.html
        for key in self.keys:
            html = html.replace(key, uuid4().hex)
        return mark_safe(html.replace(CSRF_PLACEHOLDER, csrf_token))


# Stands in for the viewer's CSRF token in the shared render; random so no volume name can contain it.
CSRF_PLACEHOLDER = f"csrf-{secrets.token_hex(16)}"
# Rendering the forms' widgets is most of a volume page's server time. The panel depends only on the page
# facts in _panel_key, so a state's panel is rendered once and reused (page reloads, an action's answer, every
# stream of it) for at most PANEL_TTL seconds; a changed fact is a new key, never a stale panel. (The one thing
# in it that ages is the revert form's "n minutes ago" of the latest snapshot: it may lag by under a minute.)
PANEL_TTL = 60.0
_panels = services.Recent(PANEL_TTL, size=256)


def _panel_key(page: services.VolumePage) -> str:
    # Everything the partial reads (volume, quota, types, snapshots, servers, the cloud's features) but the
    # volume's updated_at, which it does not show: an action that left the volume as it was reuses its panel.
    facts = (replace(page.volume, updated_at=None), page.features, page.limits, page.types, page.snapshots,
             page.servers, page.servers_problem)
    return hashlib.blake2b(repr(facts).encode(), digest_size=16).hexdigest()


def action_panel(page: services.VolumePage) -> Panel:
    key = _panel_key(page)
    panel = _panels.get(key)
    if panel is None:
        context = _panel_context(page)
        html = render_to_string("volpanel/volume.html#actions", {**context, "csrf_token": CSRF_PLACEHOLDER})
        panel = Panel(html, tuple(form.initial["idempotency_key"] for form in context["forms"].values()))
        _panels.put(key, panel)
    return panel


def render_volume(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    """render() for the volume page and its partials: the shared action panel gets this viewer's token and keys."""
    if "panel" in context:
        html = context["panel"].personal(get_token(request))
        if template.endswith("#actions"):
            return HttpResponse(html, status=status)
        context = {**context, "actions_html": html}
    return render(request, template, context, status=status)


def services_note(features: rules.CloudFeatures) -> str:
    """One sentence for a cloud that runs without Compute or Image (storage-only deployments)."""
    missing = [name for name, present in (("Compute (Nova)", features.has_compute),
                                          ("Image (Glance)", features.has_image)) if not present]
    if not missing:
        return ""
    lost = []
    if not features.has_compute:
        lost.append("attaching to servers and Nova's view of an extend are not offered")
    if not features.has_image:
        lost.append("uploading to an image is not possible")
    return (f"This cloud has no {' and no '.join(missing)} service, so {' and '.join(lost)}. "
            "Attaching to a host and every other volume action work as usual.")


# Each action's button label and what it will do, in the order the panel shows them.
ACTION_MENU = [
    ("extend", "Extend", "Grow the volume to a larger size. Attached volumes grow online where the cloud allows."),
    ("attach_server", "Attach to server", "Attach the volume to one of your servers through Compute (Nova)."),
    ("attach_host", "Attach to host", "Record an attachment to a host by name and mountpoint (os-attach), "
                                      "for bare-metal or externally managed hosts."),
    ("detach", "Detach", "Detach the volume from a server (through Compute) or from a host (os-detach)."),
    ("retype", "Change type", "Move the volume to another volume type (os-retype)."),
    ("upload", "Upload to image", "Copy the volume into a new image in the Image service."),
    ("upload_snapshot", "Upload snapshot to image", "Copy one of the volume's snapshots into a new image."),
    ("revert", "Revert to snapshot", "Roll the volume back to its latest snapshot. Later changes are lost."),
]


@require_GET
@auth.login_required
@cloud_errors
def volume_detail(request: HtmxHttpRequest, volume_id: UUID) -> HttpResponse:
    page = services.load_volume_page(_cloud(request), str(volume_id))
    template = "volpanel/volume.html"
    if request.htmx and request.GET.get("partial") in {"live", "status", "actions", "history"}:
        template += "#" + request.GET["partial"]
    resume = request.session.get(RESUME_KEY)
    if resume and resume.get("volume_id") == str(volume_id):
        del request.session[RESUME_KEY]
        form = FORMS[resume["action"]](page=page, initial=resume["data"], auto_id=f"id_{resume['action']}_%s")
        return render_volume(request, template, volume_context(request, page, bound=form))
    return render_volume(request, template, volume_context(request, page))


def _run(form: VolumeActionForm, cloud: Any, actor: services.Actor) -> AuditEntry:
    data = form.cleaned_data
    page = form.page
    common = {"cloud": cloud, "actor": actor, "volume": page.volume}
    match form.action_name:
        case "extend":
            return services.volume_extend(**common, new_size=data["new_size"])
        case "attach_server":
            return services.volume_attach_server(**common, server_id=data["server_id"])
        case "attach_host":
            return services.volume_attach_host(**common, host_name=data["host_name"],
                                               mountpoint=data["mountpoint"], mode=data["mode"])
        case "detach":
            return services.volume_detach(**common, attachment_id=data["attachment_id"])
        case "retype":
            return services.volume_retype(**common, new_type=data["new_type"],
                                          migration_policy=data["migration_policy"])
        case "upload" | "upload_snapshot":
            return services.volume_upload_image(
                **common, image_name=data["image_name"], disk_format=data["disk_format"],
                container_format=data["container_format"], visibility=data["visibility"],
                protected=data["protected"], snapshot_id=data.get("snapshot_id", ""))
        case "revert":
            return services.volume_revert(**common, snapshot_id=data["snapshot_id"])
    raise Http404("No such action.")


def describe(entry: AuditEntry, *, settled: bool = False) -> tuple[str, str]:
    """The flash level and sentence for an attempt's first answer, or (`settled`) for its final outcome as the
    stream announces it once the volume settles."""
    label = dict(Action.choices)[entry.action]
    if settled and entry.outcome == Outcome.SUCCEEDED:
        return "success", f"{label} succeeded: {entry.detail}"
    if settled and entry.outcome == Outcome.FAILED:
        return "error", f"{label} failed: {entry.detail}"
    if settled and entry.outcome == Outcome.UNKNOWN:
        return "warning", f"{label}: volpanel could not follow it to the end. {entry.detail}"
    if getattr(entry, "duplicate", False):
        return "info", (f"{label} was already submitted from this form (request {entry.request_id or 'pending'}); "
                        f"it was not sent again. Its outcome so far: {entry.get_outcome_display().lower()}.")
    # A fast cloud can settle the action before this page is rendered: the watcher may already have moved it on.
    if entry.outcome == Outcome.ACCEPTED:
        return "success", f"{label} accepted by the cloud. The status below follows the volume live."
    if entry.outcome == Outcome.SUCCEEDED:
        return "success", f"{label} accepted by the cloud and already done: {entry.detail}"
    if entry.outcome == Outcome.UNKNOWN and entry.answered_at is None:
        return "error", f"{label} sent, but the cloud did not answer: {entry.detail}"
    if entry.outcome in (Outcome.FAILED, Outcome.UNKNOWN):
        return "error", f"{label} accepted by the cloud, then {entry.get_outcome_display().lower()}: {entry.detail}"
    if entry.outcome == Outcome.REJECTED and (entry.http_status or 0) >= 500:
        return "error", (f"{label} failed inside the cloud (HTTP {entry.http_status}): {entry.detail} "
                         "Check the volume's status before trying again.")
    if entry.outcome == Outcome.REJECTED:
        return "error", f"{label} refused by the cloud: {entry.detail}"
    return "error", f"{label} did not reach the cloud: {entry.detail}"


@require_POST
@auth.login_required
@cloud_errors
def volume_action(request: HtmxHttpRequest, volume_id: UUID, action: str) -> HttpResponse:
    form_class = FORMS.get(action)
    if form_class is None:
        raise Http404("No such action.")
    cloud = _cloud(request)
    page = services.load_volume_page(cloud, str(volume_id))
    form = form_class(request.POST, page=page, auto_id=f"id_{action}_%s")
    detail_url = reverse("volume_detail", args=[volume_id])
    # The same form posted again (double click, second tab, replay): answer with the first attempt's result,
    # before the volume's new state could make the form look invalid.
    key = request.POST.get("idempotency_key", "")
    if form.fields["idempotency_key"].regex.match(key):  # type: ignore[attr-defined]
        try:
            earlier = services.earlier_attempt(_actor(request, key), str(volume_id), form_class.audit_actions)
        except services.DuplicateKeyError as exc:
            earlier = None
            form.is_valid()
            form.add_error(None, str(exc))
        if earlier is not None:
            return _answer(request, cloud, page, earlier, detail_url)
    if form.errors or not form.is_valid():
        if request.htmx:
            # 200 so htmx swaps the form back in with its messages next to the fields (and clears the last answer).
            return render_volume(request, "volpanel/volume.html#answer", volume_context(request, page, bound=form))
        return render_volume(request, "volpanel/volume.html", volume_context(request, page, bound=form), status=400)
    try:
        entry = _run(form, cloud, _actor(request, form.cleaned_data.get("idempotency_key") or ""))
    except services.DuplicateKeyError as exc:
        form.add_error(None, str(exc))
        return render_volume(request, "volpanel/volume.html#answer" if request.htmx else "volpanel/volume.html",
                             volume_context(request, page, bound=form), status=200 if request.htmx else 400)
    if entry.outcome == Outcome.ERROR and entry.http_status == 401:
        # The token expired between the page load and the action (its row says so): the same path as an
        # expiry found earlier, log in again and find the form filled in.
        raise CloudError("auth", entry.detail, service="volume", status=401)
    return _answer(request, cloud, page, entry, detail_url)


def _answer(request: HtmxHttpRequest, cloud: Any, page: services.VolumePage, entry: AuditEntry,
            detail_url: str) -> HttpResponse:
    """After an attempt: redirect a plain POST with a flash message; give htmx the live partial."""
    level, text = describe(entry)
    if not request.htmx:
        request_id = f" Request id {entry.request_id}." if entry.request_id else ""
        getattr(messages, level)(request, text + request_id)
        return HttpResponseRedirect(detail_url)
    if entry.answered_at and entry.http_status and entry.http_status < 300:
        try:
            page = services.refresh_volume(cloud, page)
        except CloudError as exc:
            # The cloud took the action; only the look at the volume afterwards failed (a token that expired
            # just now, a blip). Answering with an error, or sending the tenant to log in and find the form
            # refilled, would invite sending the action a second time: say it was accepted, show the volume as
            # loaded before it, and let the stream (or the next page load) bring its new state.
            log.info("volume GET after an accepted %s failed: %s", entry.action, exc)
    return render_volume(request, "volpanel/volume.html#answer", volume_context(request, page, entry=entry))


# --- errors ---------------------------------------------------------------------------------------------
def server_error(request: HttpRequest) -> HttpResponse:
    """handler500. A database that is locked past its timeout or unreachable fails every action before its
    audit row is written, so before the cloud is called: the tenant is told to try again (503). Rendered
    without the request's context: the session and everything else in it live in that database."""
    exc = sys.exc_info()[1]
    if not isinstance(exc, DatabaseError):
        return HttpResponse(render_to_string("volpanel/server_error.html"), status=500)
    log.error("database unavailable on %s %s: %s", request.method, request.path, exc)
    htmx = request.headers.get("HX-Request") == "true"
    match = getattr(request, "resolver_match", None)
    if request.method == "GET":
        retry = request.get_full_path()
    elif match is not None and "volume_id" in match.kwargs:
        retry = reverse("volume_detail", args=[match.kwargs["volume_id"]])
    else:
        retry = reverse("home")
    body = render_to_string("volpanel/unavailable.html", {"fragment": htmx, "retry_url": retry})
    response = HttpResponse(body, status=503)
    response["Retry-After"] = "5"
    if htmx:
        # htmx swaps this 503 (htmx-config in base.html) over the page's main area.
        response["HX-Retarget"] = "#main"
        response["HX-Reswap"] = "innerHTML"
    return response
