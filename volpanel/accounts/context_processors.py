"""Template context: the signed-in cloud user (never the token), and whether they may read the audit trail."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from volpanel.accounts import auth
from volpanel.audit.access import can_audit, can_repair


def cloud_user(request: HttpRequest) -> dict[str, Any]:
    creds = auth.credentials(request)
    return {
        "cloud_user": creds and {
            "name": creds.user_name,
            "domain": creds.user_domain,
            "project_id": creds.project_id,
            "project_name": creds.project_name,
            "is_admin": creds.is_admin,
        },
        "cloud_projects": request.session.get(auth.PROJECTS_KEY, []) if creds else [],
        "can_audit": can_audit(request),
        "can_repair": can_repair(request),
    }
