"""The read-only Django admin of the audit trail (volpanel/audit/admin.py): labels and filters from the registry."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.test import Client

from tests.audit.conftest import make_row


def test_it_lists_rows_by_the_registry_s_labels_and_filters_by_kind_without_changing_them(db: Any) -> None:
    make_row(volume_name="grown")
    make_row(volume_name="retyped", action="os-retype", parameters={"new_type": "gold"})
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", password="x"))
    page = client.get("/django-admin/volpanel/auditentry/").content.decode()
    assert "Extend (os-extend)" in page and "Change type (os-retype)" in page
    assert "?action=os-volume_upload_image" in page and ">Upload to image<" in page  # every kind, rows or not
    only = client.get("/django-admin/volpanel/auditentry/?action=os-retype").content.decode()
    assert "retyped" in only and "grown" not in only
    entry = client.get("/django-admin/volpanel/auditentry/").context["cl"].result_list[0]
    detail = client.get(f"/django-admin/volpanel/auditentry/{entry.pk}/change/")
    assert detail.status_code == 200 and "Change type (os-retype)" in detail.content.decode()
    assert client.post(f"/django-admin/volpanel/auditentry/{entry.pk}/change/", {}).status_code == 403


def test_it_throttles_the_admin_login_like_the_main_login(db: Any) -> None:
    """40 wrong passwords in 9 s were all answered; now the main login's throttle makes further tries wait, refused
    before Django checks the password (the right one too) while the delay runs. Another user still gets in."""
    from django.core.cache import cache

    from volpanel.accounts import throttle

    cache.clear()
    get_user_model().objects.create_user("auditor", password="right", is_staff=True)
    get_user_model().objects.create_user("other", password="right", is_staff=True)
    client = Client()
    answers = [client.post("/django-admin/login/", {"username": "auditor", "password": f"wrong{i}"}).status_code
               for i in range(40)]
    assert answers == [200] * throttle.FREE_PER_PAIR + [429] * (40 - throttle.FREE_PER_PAIR)
    locked = client.post("/django-admin/login/", {"username": "auditor", "password": "right"})
    assert locked.status_code == 429 and locked["Retry-After"] and "_auth_user_id" not in client.session
    other = client.post("/django-admin/login/", {"username": "other", "password": "right"})
    assert other.status_code == 302 and client.session["_auth_user_id"]
    cache.clear()
