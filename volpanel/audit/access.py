"""Who may read the audit trail: the Keystone admin role, or a Django staff user signed in to django-admin."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import render

from volpanel.accounts import auth
from volpanel.cloud import token_honoured


def _staff(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_staff)


def can_audit(request: HttpRequest) -> bool:
    """The admin role of a token Keystone still honours (the audit pages ask the cloud nothing else, so a
    revoked or expired token — a role removed, a user disabled — must be caught here), or django-admin staff."""
    creds = auth.credentials(request)
    if creds is not None and creds.is_admin and token_honoured(creds):
        return True
    return _staff(request)


def _gate(allowed: Callable[[HttpRequest], bool], forbidden: dict[str, str]) -> Callable[
        [Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """A view decorator: `allowed` requests pass; a signed-in admin whose token the cloud no longer honours goes
    to the login page, as any expired session; nobody signed in → the login page; anyone else → 403."""

    def decorator(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if allowed(request):
                return view(request, *args, **kwargs)
            creds = auth.credentials(request)
            if creds is not None and creds.is_admin:
                # The admin role was in a token the cloud no longer honours: as for any expired session.
                auth.sign_out(request)
                messages.info(request, "Your session with the cloud has expired. Log in again to continue.")
                return auth.login_redirect(request)
            if creds is None and not request.user.is_authenticated:
                return auth.login_redirect(request)
            return render(request, "volpanel/forbidden.html", forbidden, status=403)

        return wrapper

    return decorator


def can_repair(request: HttpRequest) -> bool:
    """Admin actions (issue 16) call Cinder with the admin's own token: the Keystone admin role of a token still
    honoured, re-checked as for the audit pages. Django staff without such a token may read but not repair."""
    creds = auth.credentials(request)
    return creds is not None and creds.is_admin and token_honoured(creds)


# The audit pages: nobody signed in, or a token no longer honoured → the login page; signed in without the admin
# role (nor Django staff) → 403.
admins_only = _gate(can_audit, {})
# The admin volume pages and actions: as `admins_only`, but Django staff without a cloud token get 403 too, and a
# member is refused before the cloud is called.
cloud_admins_only = _gate(can_repair, {"forbidden_what": "Repairing volumes is"})
