"""The audit list, row detail and the access rules of every audit URL (volpanel/audit/views.py)."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.audit.conftest import T0, make_row
from tests.conftest import Demo, expire_session_token, token_of, web_login
from volpanel.audit.models import AuditEntry
from volpanel.lib import memo
from volpanel.volumes import watchers

HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}
AUDIT_URLS = ("/audit/", "/audit/chart/", "/audit/export/csv/", "/audit/export/jsonl/", "/audit/export/cadf/")


def links(body: str, rel: str) -> str:
    found = re.search(rf'<a href="([^"]+)"[^>]*rel="{rel}"', body)
    return unescape(found.group(1)) if found else ""


@pytest.mark.django_db(transaction=True)
def test_it_lets_only_admins_reach_the_audit_pages_and_exports(demo: Demo, alice_client: Client) -> None:
    vid = demo.volume("data-01")["id"]
    alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "11"})
    assert watchers.wait_idle(20)
    entry = AuditEntry.objects.get()
    urls = [*AUDIT_URLS, f"/audit/{entry.uuid}/"]
    # A member of the project, a plain Django user and nobody at all are kept out of every audit URL.
    assert [alice_client.get(url).status_code for url in urls] == [403] * len(urls)
    assert b"Admins only" in alice_client.get("/audit/").content
    plain = Client()
    plain.force_login(get_user_model().objects.create_user("clerk", password="x"))
    assert [plain.get(url).status_code for url in urls] == [403] * len(urls)
    anonymous = Client()
    assert all(anonymous.get(url)["Location"].startswith("/login/?next=") for url in urls)
    # The Keystone admin role, or Django staff, reach them all.
    admin = Client()
    web_login(admin, "admin", "admin")
    staff = Client()
    staff.force_login(get_user_model().objects.create_user("auditor", password="x", is_staff=True))
    for who in (admin, staff):
        assert [who.get(url).status_code for url in urls] == [200] * len(urls)
    page = admin.get("/audit/").content.decode()
    assert "data-01" in page and "Succeeded" in page and f"/audit/{entry.uuid}/" in page
    assert 'href="/audit/"' in page  # the nav shows admins the audit link
    assert 'href="/audit/"' not in alice_client.get("/volumes/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_an_admin_whose_token_is_revoked_or_expired_is_sent_to_log_in_again(demo: Demo) -> None:
    """The audit pages ask the cloud nothing else: a role removed or a user disabled (Keystone revokes their
    tokens) must not leave the trail readable for the rest of a 12-hour Django session."""

    admin = Client()
    web_login(admin, "admin", "admin")
    assert [admin.get(url).status_code for url in AUDIT_URLS] == [200] * len(AUDIT_URLS)
    # Keystone failing (5xx) cannot say the token was revoked: the expiry alone decides meanwhile.
    demo.faults(http=[{"service": "identity", "method": "GET", "path": "/auth/tokens", "status": 503}])
    memo.clear_all()
    assert admin.get("/audit/").status_code == 200
    demo.clear_faults()
    demo.revoke(token_of(admin))
    memo.clear_all()  # a minute later (cloud.TOKEN_CHECK_TTL): Keystone is asked again
    refused = admin.get("/audit/export/csv/")
    assert refused.status_code == 302 and refused["Location"].startswith("/login/?next=")
    assert "volpanel.credentials" not in admin.session
    # A token past its expiry is refused without asking Keystone.
    web_login(admin, "admin", "admin")
    expire_session_token(admin)
    assert admin.get("/audit/")["Location"].startswith("/login/?next=")


@pytest.mark.django_db(transaction=True)
def test_it_links_history_rows_to_their_detail_for_admins_only(demo: Demo, alice_client: Client) -> None:
    vid = demo.volume("data-01")["id"]
    alice_client.post(f"/volumes/{vid}/extend/", {"new_size": "11"})
    assert watchers.wait_idle(20)
    entry = AuditEntry.objects.get()
    tenant_view = alice_client.get(f"/volumes/{vid}/").content.decode()
    assert 'data-testid="history"' in tenant_view and f"/audit/{entry.uuid}/" not in tenant_view
    admin = Client()
    web_login(admin, "admin", "demo")  # admin role in alice's project: sees the same History, with links
    admin_view = admin.get(f"/volumes/{vid}/").content.decode()
    assert f'<a href="/audit/{entry.uuid}/" data-testid="history-detail-link">' in admin_view
    partial = admin.get(f"/volumes/{vid}/?partial=history", **HTMX).content.decode()
    assert "<html" not in partial and f"/audit/{entry.uuid}/" in partial
    detail = admin.get(f"/audit/{entry.uuid}/").content.decode()
    assert f'href="/volumes/{vid}/"' in detail and "Settled" in detail


def test_it_renders_the_list_as_a_page_and_as_fragments_keeping_filters_on_every_link(
        staff_client: Client) -> None:
    for i in range(60):
        make_row(volume_name=f"keep-{i:02}", outcome="failed" if i % 2 else "succeeded",
                 at=T0 + timedelta(minutes=i))
    make_row(volume_name="other-user", actor_name="bob", at=T0 + timedelta(hours=5))
    full = staff_client.get("/audit/?outcome=failed&user=alice")
    body = full.content.decode()
    assert full.status_code == 200 and "<html" in body and 'id="audit-results"' in body
    assert body.count('data-testid="audit-detail-link"') == 30 and "other-user" not in body
    assert "keep-59" in body and "keep-58" not in body and 'rel="prev"' not in body
    for fmt in ("csv", "jsonl", "cadf"):
        assert f'href="/audit/export/{fmt}/?user=alice&amp;outcome=failed"' in body
    # The chart is not drawn with the rows: a slot asks for it once they are shown, and without JavaScript a
    # link leads to it; both carry the filters.
    chart_slot = 'hx-get="/audit/chart/?user=alice&amp;outcome=failed" hx-trigger="load"'
    assert chart_slot in body and 'data-testid="audit-chart"' not in body
    assert '<noscript><p><a href="/audit/chart/?user=alice&amp;outcome=failed"' in body
    # The filter form's htmx request gets the results fragment: rows and the chart's slot, no page around them.
    results = staff_client.get("/audit/?outcome=failed&user=alice", HTTP_HX_TARGET="audit-results", **HTMX)
    assert results.status_code == 200 and "<html" not in results.content.decode()
    assert 'id="audit-results"' in results.content.decode() and chart_slot in results.content.decode()
    # The slot's request gets the chart alone, for the filters it carries (the rows' day, so the window holds
    # them whatever today is); a plain request gets it as a page that links back to the same rows.
    chart_url = "/audit/chart/?user=alice&outcome=failed&since=2026-11-20&until=2026-11-20"
    chart = staff_client.get(chart_url, HTTP_HX_TARGET="audit-chart-slot", **HTMX)
    fragment = chart.content.decode()
    assert chart.status_code == 200 and "<html" not in fragment and 'data-testid="audit-chart"' in fragment
    assert "Failed, rejected or error: <strong>30</strong>" in fragment and "Succeeded: <strong>0</strong>" in fragment
    chart_page = staff_client.get(chart_url).content.decode()
    assert "<html" in chart_page and 'data-testid="audit-chart"' in chart_page
    assert ('href="/audit/?user=alice&amp;outcome=failed&amp;since=2026-11-20&amp;until=2026-11-20" '
            'data-testid="back-to-list"') in chart_page

    def fetch(url: str, **extra: Any) -> str:
        response = staff_client.get("/audit/" + url, **extra)
        assert response.status_code == 200
        return response.content.decode()

    many = staff_client.get("/audit/?user=alice")
    older = links(many.content.decode(), "next")
    assert older.startswith("?user=alice&cursor=")
    second = fetch(older, HTTP_HX_TARGET="audit-rows", **HTMX)
    assert "<html" not in second and 'id="audit-rows"' in second and "/audit/chart/" not in second
    assert "keep-09" in second and "keep-10" not in second and "keep-00" in second
    assert links(second, "next") == "" and links(second, "prev").startswith("?user=alice&cursor=")
    assert re.search(r'href="\?user=alice"[^>]*>Newest<', second)
    # Each row's detail link carries the list's place so "back" returns to it.
    assert f"/audit/{AuditEntry.objects.get(volume_name='keep-09').uuid}/?user=alice&amp;cursor=" in second
    back = fetch(links(second, "prev"))
    assert "keep-59" in back and "keep-10" in back and "keep-09" not in back and 'rel="prev"' not in back


def test_it_says_what_was_wrong_with_a_filter_or_a_cursor_instead_of_failing(staff_client: Client) -> None:
    make_row(volume_name="only-row")
    for url in ("/audit/?since=yesterday", "/audit/?cursor=made-up", "/audit/?cursor=" + "A" * 3000,
                "/audit/?volume=%3Cscript%3E"):
        full = staff_client.get(url)
        assert full.status_code == 200 and "only-row" in full.content.decode(), url
        assert 'role="alert"' in full.content.decode() and "<script>" not in full.content.decode()
        fragment = staff_client.get(url, HTTP_HX_TARGET="audit-rows", **HTMX)
        assert fragment.status_code == 200 and 'role="alert"' in fragment.content.decode()
    assert "The page link is damaged" in staff_client.get("/audit/?cursor=made-up").content.decode()
    assert "is not a date or time" in staff_client.get("/audit/?since=yesterday").content.decode()
    empty = staff_client.get("/audit/?user=nobody").content.decode()
    assert "No audit rows match these filters." in empty and "Clear the filters" in empty


def test_it_shows_every_fact_of_a_row_and_its_timeline(staff_client: Client) -> None:
    entry = make_row(volume_name="<b>bold</b>", volume_id="5b9a3c1e-0d7f-4f7e-9d3a-1c2b3a4d5e6f",
                     source_ip="2001:db8::7", user_agent="Firefox/140", cloud="https://keystone.example/v3",
                     parameters={"new_size": 11, "old_size": 10, "auth_token": "gAAAA-should-not-show"},
                     request_id="req-4f7c0e1a-2b3c-4d5e-8f90-123456789abc", outcome="failed")
    response = staff_client.get(f"/audit/{entry.uuid}/?outcome=failed&cursor=abc")
    body = response.content.decode()
    assert response.status_code == 200
    for fact in (str(entry.uuid), "alice", "u-alice", "p-demo", "2001:db8::7", "Firefox/140",
                 "https://keystone.example/v3", "5b9a3c1e-0d7f-4f7e-9d3a-1c2b3a4d5e6f", "os-extend",
                 "req-4f7c0e1a-2b3c-4d5e-8f90-123456789abc", "202", "the volume went to error_extending",
                 "2026-11-20 12:00:00.000000", "2026-11-20 12:00:05.000000"):
        assert fact in body, fact
    assert "&lt;b&gt;bold&lt;/b&gt;" in body and "<b>bold</b>" not in body
    assert "gAAAA-should-not-show" not in body and "(hidden)" in body
    timeline = re.findall(r'<li data-kind="(\w+)">', body)
    assert timeline == ["requested", "answered", "settled"]
    for event in entry.events.all():
        assert f">{event.hash[:12]}</code>" in body
    assert 'href="/audit/?outcome=failed&amp;cursor=abc"' in body
    assert 'href="/volumes/5b9a3c1e-0d7f-4f7e-9d3a-1c2b3a4d5e6f/"' in body
    # A row whose volume id is not a Cinder id gets no volume link; an unknown row id is a 404.
    odd = make_row(volume_id="imported-42")
    assert "data-testid=\"volume-link\"" not in staff_client.get(f"/audit/{odd.uuid}/").content.decode()
    assert staff_client.get("/audit/00000000-0000-4000-8000-000000000000/").status_code == 404
