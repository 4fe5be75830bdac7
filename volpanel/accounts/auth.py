"""The signed-in cloud user, kept in the server-side session: Keystone credentials never reach the browser."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from volpanel.lib.memo import Memo
from volpanel.openstack.session import Credentials

CREDENTIALS_KEY = "volpanel.credentials"
PROJECTS_KEY = "volpanel.projects"
# Tokens this session held and replaced (another project, another sign-in) that Keystone could not revoke at the
# time: tried again at the next replacement and at logout.
SUPERSEDED_KEY = "volpanel.superseded"


# What a session's stored credentials parse to, by their text: a session's pages share one Credentials (never changed
# once made), and with it the token's hash that names its Cloud, instead of parsing the same JSON on every page.
_parsed: Memo[str, Credentials] = Memo("auth.credentials", ttl=300.0, size=256)


def credentials(request: HttpRequest) -> Credentials | None:
    cached = getattr(request, "_volpanel_credentials", None)
    if cached is not None:
        return cached
    raw = request.session.get(CREDENTIALS_KEY)
    if not raw:
        return None
    creds = _parsed.get(raw)
    if creds is None:
        creds = Credentials.from_json(raw)
        _parsed.put(raw, creds)
    request._volpanel_credentials = creds  # type: ignore[attr-defined]
    return creds


def sign_in(request: HttpRequest, creds: Credentials, projects: list[dict[str, str]]) -> None:
    # A new session key at login: a session id planted before login is worth nothing after it.
    request.session.cycle_key()
    request.session[CREDENTIALS_KEY] = creds.to_json()
    request.session[PROJECTS_KEY] = projects
    request._volpanel_credentials = creds  # type: ignore[attr-defined]


def sign_out(request: HttpRequest) -> None:
    request.session.flush()
    request._volpanel_credentials = None  # type: ignore[attr-defined]


def login_redirect(request: HttpRequest, next_url: str | None = None) -> HttpResponse:
    target = reverse("login") + "?" + urlencode({"next": next_url or request.get_full_path()})
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(target)  # a full-page load of the login page, not a swap into this one
    return HttpResponseRedirect(target)


def login_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if credentials(request) is None:
            return login_redirect(request)
        return view(request, *args, **kwargs)

    return wrapper
