"""Who may read the audit trail: the Keystone admin role, or a Django staff user signed in to django-admin."""

from __future__ import annotations

import functools
from typing import Any, Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from volpanel import auth


def can_audit(request: HttpRequest) -> bool:
    creds = auth.credentials(request)
    if creds is not None and creds.is_admin:
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_staff)


def admins_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Nobody signed in → the login page; signed in without the admin role → 403."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if can_audit(request):
            return view(request, *args, **kwargs)
        if auth.credentials(request) is None and not request.user.is_authenticated:
            return auth.login_redirect(request)
        return render(request, "volpanel/forbidden.html", status=403)

    return wrapper
