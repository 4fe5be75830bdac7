"""Volume views: the list, the volume page and its partials, and the action POSTs. Thin: reads come from
selectors, actions go through their specifications (volumes.actions) to services, words from presenters."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode
from uuid import UUID, uuid4

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from volpanel.accounts import auth
from volpanel.audit.models import AuditEntry, Outcome
from volpanel.cloud import connect, disconnect
from volpanel.lib.http import HtmxHttpRequest
from volpanel.lib.later import Later
from volpanel.openstack.cloud import Cloud
from volpanel.openstack.errors import CloudError
from volpanel.volumes import actions, limits, presenters, selectors, services, watchers
from volpanel.volumes.forms import IDEMPOTENCY_KEY, VolumeActionForm
from volpanel.volumes.selectors import VolumePage

log = logging.getLogger(__name__)


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
                    disconnect(creds)
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


def cloud_budget(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A request that makes volpanel call the cloud takes one from its session's budget (limits.cloud_wait); a
    session past it is answered 429 before the cloud hears of it. Goes after login_required."""

    @functools.wraps(view)
    def wrapper(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        wait = limits.cloud_wait(request.session.session_key or "")
        if wait:
            text = (f"Too many requests from this session: volpanel asks the cloud for at most "
                    f"{settings.VOLPANEL_CLOUD_RATE:g} a second. Nothing was sent; try again in {wait} s.")
            if request.htmx and request.method == "POST":
                # An action button's answer: shown where the page announces outcomes (htmx-config swaps 429).
                response = HttpResponse(format_html('<p class="flash flash-warning" data-outcome="refused">{}</p>',
                                                    text), status=429)
                retarget(response, "#volume-announce")
                reswap(response, "innerHTML")
            else:
                response = HttpResponse(text, content_type="text/plain; charset=utf-8", status=429)
            response["Retry-After"] = str(wait)
            return response
        return view(request, *args, **kwargs)

    return wrapper


def _resumable(request: HttpRequest, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """The action form a tenant was submitting, to refill after they log in again."""
    action, volume_id = kwargs.get("action"), kwargs.get("volume_id")
    if request.method != "POST" or action not in actions.BY_NAME or volume_id is None:
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


def earlier_attempt(request: HttpRequest, volume_id: str, spec: actions.ActionSpec,
                    form: VolumeActionForm) -> AuditEntry | None:
    """The attempt this very form already made (double click, second tab, replay), by its idempotency key, or
    None. A key reused for something else is said on the form instead."""
    key = request.POST.get("idempotency_key", "")
    if not IDEMPOTENCY_KEY.match(key):
        return None
    try:
        return services.earlier_attempt(_actor(request, key), volume_id, spec.audit_names)
    except services.DuplicateKeyError as exc:
        form.is_valid()
        form.add_error(None, str(exc))
        return None


def _cloud(request: HttpRequest) -> Cloud:
    creds = auth.credentials(request)
    assert creds is not None
    return connect(creds)


# --- volumes --------------------------------------------------------------------------------------------
@require_GET
@auth.login_required
@cloud_budget
@cloud_errors
def volume_list(request: HtmxHttpRequest) -> HttpResponse:
    cloud = _cloud(request)
    if request.htmx:
        return render(request, "volpanel/volume_list.html#volumes",
                      {"volumes": selectors.list_volumes(cloud), "project_name": cloud.credentials.project_name})
    # The page around the table is rendered while Cinder answers the list GET, the table into it once it has.
    page = Later(request, "volpanel/volume_list.html", "volumes")
    volumes = selectors.list_volumes(cloud, meanwhile=page.render_around)
    return HttpResponse(page.fill({"volumes": volumes, "project_name": cloud.credentials.project_name}))


def volume_context(request: HttpRequest, page: VolumePage, *, bound: VolumeActionForm | None = None,
                   entry: AuditEntry | None = None, history: list[AuditEntry] | None = None) -> dict[str, Any]:
    """The context of the volume page and of every partial of it (`history`: the volume's History, read already)."""
    creds = auth.credentials(request)
    assert creds is not None
    if history is None:
        history = selectors.history(creds.project_id, page.volume.id)
    page = selectors.with_recorded_hosts(page, creds.project_id)
    if entry is not None:
        # The answer speaks from the same read as the History below it: a watcher may have settled the row since
        # the cloud accepted it, and the announcement, its outcome and the stream link must all say so.
        fresh = next((e for e in history if e.pk == entry.pk), None)
        if fresh is not None:
            fresh.duplicate = entry.duplicate
            entry = fresh
    context = presenters.partials_context(page, history, bound=bound, entry=entry)
    # What the page reused from the project's memos is fetched again by its stream, unless it is that fresh.
    context["refresh"] = page.side_age > selectors.FRESH_FOR
    context["side_ttl"] = selectors.SIDE_TTL
    if (context["watching"] or context["refresh"]) and limits.full(request.session.session_key or "",
                                                                   creds.user_id):
        # Its stream would be refused (429): the page is served as without JavaScript, and says so.
        context["streams_full"] = context["watching"]
        context["watching"] = context["refresh"] = False
    entry = context["entry"]
    # A refresh names what this page shows (as the watchers' event ids do): the stream sends nothing if the fresh
    # read finds the same, so an action form the tenant already opened is not swapped for an identical one.
    query = {"refresh": watchers.fingerprint(page, tuple(history), "") if context["refresh"] else "",
             "attempt": str(entry.uuid) if entry is not None and not entry.is_final else ""}
    context["stream_url"] = "?".join(filter(None, (reverse("volume_stream", args=[page.volume.id]),
                                                   urlencode({k: v for k, v in query.items() if v}))))
    return context


def render_volume(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    """render() for the volume page and its partials: the shared action panel gets this viewer's token and keys."""
    if "panel" in context:
        html = context["panel"].personal(get_token(request))
        if template.endswith("#actions"):
            return HttpResponse(html, status=status)
        context = {**context, "actions_html": html}
    return render(request, template, context, status=status)


@require_GET
@auth.login_required
@cloud_budget
@cloud_errors
def volume_detail(request: HtmxHttpRequest, volume_id: UUID) -> HttpResponse:
    creds = auth.credentials(request)
    assert creds is not None
    # The volume is the page's one call: the rest comes from the project's memos, refreshed by the page's stream
    # (selectors.SIDE_TTL). A page whose stream would be refused (limits.full), or a tenant asking for the page
    # in full (`?complete`), waits for every answer instead.
    reuse = "complete" not in request.GET and not limits.full(request.session.session_key or "", creds.user_id)
    # The History is read while Cinder answers the volume GET (a page load's rows are the ones written before it).
    history: list[AuditEntry] = []
    page = selectors.load_volume_page(_cloud(request), str(volume_id), reuse=reuse,
                                      meanwhile=lambda: history.extend(selectors.history(creds.project_id,
                                                                                         str(volume_id))))
    template = "volpanel/volume.html"
    if request.htmx and request.GET.get("partial") in {"live", "status", "actions", "history"}:
        template += "#" + request.GET["partial"]
    resume = request.session.get(RESUME_KEY)
    if resume and resume.get("volume_id") == str(volume_id):
        del request.session[RESUME_KEY]
        spec = actions.BY_NAME.get(resume["action"])  # None: an action this version no longer has
        if spec is not None:
            form = spec.bind(page, initial=resume["data"])
            return render_volume(request, template, volume_context(request, page, bound=form, history=history))
    return render_volume(request, template, volume_context(request, page, history=history))


@require_POST
@auth.login_required
@cloud_budget
@cloud_errors
def volume_action(request: HtmxHttpRequest, volume_id: UUID, action: str) -> HttpResponse:
    spec = actions.BY_NAME.get(action)
    if spec is None or spec.audience != "tenant":
        raise Http404("No such action.")
    cloud = _cloud(request)
    # Checked against the volume as the cloud has it now, and of the rest of the page only what this action's
    # form reads (its spec's needs), also read now: nothing stale is acted on, and nothing unneeded is fetched.
    state = selectors.load_action_state(cloud, str(volume_id), spec.needs)
    form = spec.bind(state, request.POST)
    detail_url = reverse("volume_detail", args=[volume_id])
    if form.errors or not form.is_valid():
        # The same form posted again (double click, second tab, replay) once the volume moved on: answer with the
        # first attempt's result, not with what the volume's new state makes of the form. (A replay the form still
        # passes is found by `perform`, whose insert of the row the key's unique constraint refuses.)
        earlier = earlier_attempt(request, str(volume_id), spec, form)
        if earlier is not None:
            return _answer(request, cloud, spec, state, earlier, detail_url)
        return _refused(request, cloud, spec, state, form)
    try:
        actor = _actor(request, form.cleaned_data.get("idempotency_key") or "")
        entry = actions.run(spec.name, cloud=cloud, actor=actor, volume=state.volume, **form.cleaned_data)
    except services.DuplicateKeyError as exc:
        form.add_error(None, str(exc))
        return _refused(request, cloud, spec, state, form)
    if entry.outcome == Outcome.ERROR and entry.http_status == 401 and not entry.duplicate:
        # The token expired between the page load and the action (its row says so): the same path as an
        # expiry found earlier, log in again and find the form filled in.
        raise CloudError("auth", entry.detail, service="volume", status=401)
    return _answer(request, cloud, spec, state, entry, detail_url, sent_now=not entry.duplicate)


def _refused(request: HtmxHttpRequest, cloud: Cloud, spec: actions.ActionSpec, state: VolumePage,
             form: VolumeActionForm) -> HttpResponse:
    """The form back with its messages: htmx gets 200 so it swaps the form in next to the fields (and clears the
    last answer); a plain POST gets the page, 400."""
    page = selectors.answer_page(cloud, state, spec.needs, refresh=False)
    if request.htmx:
        return render_volume(request, "volpanel/volume.html#answer", volume_context(request, page, bound=form))
    return render_volume(request, "volpanel/volume.html", volume_context(request, page, bound=form), status=400)


def _answer(request: HtmxHttpRequest, cloud: Cloud, spec: actions.ActionSpec, state: VolumePage,
            entry: AuditEntry, detail_url: str, *, sent_now: bool = False) -> HttpResponse:
    """After an attempt: redirect a plain POST with a flash message; give htmx the live partial."""
    level, text = presenters.describe(entry)
    if not request.htmx:
        request_id = f" Request id {entry.request_id}." if entry.request_id else ""
        getattr(messages, level)(request, text + request_id)
        return HttpResponseRedirect(detail_url)
    accepted = bool(entry.answered_at and entry.http_status and entry.http_status < 300)
    try:
        # The volume after an action this request sent is the one the watcher following it reads at once, not a GET
        # of our own (a replayed form's answer reads the volume as it is now).
        page = selectors.answer_page(cloud, state, spec.needs, refresh=accepted,
                                     read=(lambda: watchers.polled_after(cloud, entry)) if sent_now else None)
    except CloudError as exc:
        # The cloud took the action (or answered it); only the look at the volume afterwards failed (a token that
        # expired just now, a blip). Answering with an error, or sending the tenant to log in and find the form
        # refilled, would invite sending the action a second time: say what the cloud answered, show the volume
        # as checked before it, and let the stream (or the next page load) bring its new state.
        log.info("volume GET after a %s answered %s failed: %s", entry.action, entry.http_status, exc)
        page = selectors.answer_page(cloud, state, spec.needs, refresh=False, load=False)
    return render_volume(request, "volpanel/volume.html#answer", volume_context(request, page, entry=entry))


