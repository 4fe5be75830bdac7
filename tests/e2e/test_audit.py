"""The audit page in Chromium under the real CSP: filter, page older and newer through htmx, open a row's detail
and come back to the same place; the chart and its table render without a console error."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import ROOT
from tests.e2e.conftest import LiveServer, log_in

pytestmark = pytest.mark.browser

SEED = """
from datetime import timedelta
from django.utils import timezone
from volpanel.audit.models import AuditEntry
now = timezone.now()
for i in range(60):
    AuditEntry(actor_id="u-e2e", actor_name="e2e-admin", project_id="p-e2e", project_name="e2e",
               volume_id="5b9a3c1e-0d7f-4f7e-9d3a-1c2b3a4d5e6f", volume_name=f"e2e-audit-{i:02}",
               action="os-extend", parameters={"new_size": i + 2}, requested_at=now - timedelta(hours=i)).save()
"""


def seed(live: LiveServer) -> None:
    # Through the model, so each row is chained like any other.
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{live.db_path}", "DJANGO_SETTINGS_MODULE": "volpanel.settings"}
    subprocess.run([sys.executable, "manage.py", "shell", "-c", SEED], cwd=ROOT, env=env, check=True)


def test_it_filters_pages_and_opens_a_row_and_comes_back(page: Any, live_volpanel: LiveServer) -> None:
    seed(live_volpanel)
    log_in(page, user="admin", project="admin")
    page.get_by_role("link", name="Audit").click()
    page.get_by_label("Search").fill("e2e-audit-")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/audit/\?q=e2e-audit-"))
    rows = page.get_by_test_id("audit-rows").locator("tbody tr")
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text("e2e-audit-00")
    chart = page.get_by_role("img", name="Actions per day by outcome")
    expect(chart).to_be_visible()
    expect(page.get_by_test_id("audit-chart")).to_contain_text("Pending or accepted (not settled yet): 60")

    page.get_by_role("link", name="Older").click()
    expect(rows).to_have_count(10)
    expect(rows.first).to_contain_text("e2e-audit-50")
    expect(page).to_have_url(re.compile(r"/audit/\?q=e2e-audit-&cursor="))
    expect(page.get_by_role("link", name="Newer")).to_be_visible()

    rows.first.get_by_test_id("audit-detail-link").click()
    expect(page.get_by_role("heading", name="Extend: e2e-audit-50")).to_be_visible()
    expect(page.get_by_test_id("timeline").locator("li")).to_have_count(1)
    page.get_by_test_id("back-to-list").click()
    expect(rows).to_have_count(10)
    expect(rows.first).to_contain_text("e2e-audit-50")

    page.get_by_role("link", name="Newer").click()
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text("e2e-audit-00")
