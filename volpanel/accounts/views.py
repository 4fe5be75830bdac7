"""Sign-in: log in against Keystone, log out, switch project; every token a session replaces or ends with is
revoked. The Keystone token stays in the server-side session."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import admin, messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from volpanel.accounts import auth, throttle
from volpanel.audit import actors
from volpanel.cloud import cloud_config, disconnect
from volpanel.lib.http import HtmxHttpRequest
from volpanel.openstack import session as os_session
from volpanel.openstack.errors import CloudError
from volpanel.openstack.session import Credentials
from volpanel.volumes.views import cloud_errors

log = logging.getLogger(__name__)


def _revoke(creds: Credentials, *, cascade: bool) -> bool:
    """Revoke one token at Keystone and forget it in this process; False when Keystone could not be told."""
    config = cloud_config()
    actors.forget(config.auth_url, creds.user_id, creds.project_id, only=creds)
    disconnect(creds)
    try:
        os_session.revoke(config, creds, cascade=cascade)
    except CloudError as exc:
        log.warning("token revocation failed: %s", exc)
        return False
    return True


def _retire(request: HtmxHttpRequest, replaced: Credentials | None, *, rescoped: bool = False) -> None:
    """Revoke the tokens the session no longer uses — the one just replaced, and any Keystone could not revoke
    before; those it still cannot wait in the session for the next try. With `rescoped`, the session's new
    token was made from the replaced one: Keystone must not cascade to it. Earlier replaced tokens may be the
    current one's ancestors too, so they never cascade."""
    pending = [(Credentials.from_json(raw), False) for raw in request.session.get(auth.SUPERSEDED_KEY, [])]
    if replaced is not None:
        pending.append((replaced, not rescoped))
    left = [creds.to_json() for creds, cascade in pending if not _revoke(creds, cascade=cascade)]
    if left:
        request.session[auth.SUPERSEDED_KEY] = left
    else:
        request.session.pop(auth.SUPERSEDED_KEY, None)


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
        wait = throttle.wait_seconds(values["username"], address)
        if wait:
            # Refused before Keystone hears of it, whatever the password: guessing gains nothing here. Only this
            # name from this address waits; the same user elsewhere signs in as usual.
            context["error"] = (f"Too many failed logins for this user from this address. Try again in "
                                f"{throttle.in_words(wait)}.")
            response = render(request, "volpanel/login.html", context, status=429)
            response["Retry-After"] = str(wait)
            return response
        config = cloud_config()
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
        throttle.clear(values["username"], address)
        previous = auth.credentials(request)  # a sign-in over a signed-in session replaces its token
        auth.sign_in(request, creds, projects)
        _retire(request, previous)
        return redirect(next_url or reverse("volume_list"))
    if auth.credentials(request):
        return redirect("volume_list")
    return render(request, "volpanel/login.html", context)


@require_POST
def logout_view(request: HtmxHttpRequest) -> HttpResponse:
    # Every token the session held: the current one and any replaced one Keystone could not revoke at the time.
    _retire(request, auth.credentials(request))
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
    new = os_session.rescope(cloud_config(), creds, project_id)
    auth.sign_in(request, new, known)
    _retire(request, creds, rescoped=True)
    messages.success(request, f"Now working in project {new.project_name}.")
    return redirect("volume_list")


@require_http_methods(["GET", "POST"])
def admin_login(request: HtmxHttpRequest) -> HttpResponse:
    """Django admin's login (Django staff users, not Keystone), behind the same throttle as the main login: one
    count per user name across both doors. Refused before Django checks the password, like the main login."""
    if request.method == "POST":
        username = request.POST.get("username", "").strip()
        address = request.META.get("REMOTE_ADDR") or "unknown"
        wait = throttle.wait_seconds(username, address) if username else 0
        if wait:
            response = HttpResponse(f"Too many failed logins for this user from this address. Try again in "
                                    f"{throttle.in_words(wait)}.", content_type="text/plain; charset=utf-8",
                                    status=429)
            response["Retry-After"] = str(wait)
            return response
        response = admin.site.login(request)
        if username and not request.user.is_authenticated:
            throttle.record_failure(username, address)
        elif username:
            throttle.clear(username, address)
        return response
    return admin.site.login(request)


@require_GET
def home(request: HtmxHttpRequest) -> HttpResponse:
    return redirect("volume_list" if auth.credentials(request) else "login")

