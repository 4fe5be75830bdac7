"""In Chromium, as a tenant: log in, extend a volume, and watch its status change without reloading."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, log_in

pytestmark = pytest.mark.browser


def test_it_extends_a_volume_and_streams_the_status_into_the_page(page: Any, demo: Any,
                                                                 live_volpanel: LiveServer) -> None:
    demo.config(delay=2.0)
    log_in(page)
    page.get_by_role("link", name="data-01").click()
    expect(page.get_by_test_id("volume-size")).to_contain_text("10 GiB")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))

    page.locator("summary", has_text="Extend").click()
    page.get_by_label("New size (GiB)").fill("13")
    page.get_by_role("button", name="Extend").click()

    expect(page.get_by_text("Extend accepted by the cloud")).to_be_visible()
    expect(page.get_by_test_id("volume-status")).to_contain_text("extending")
    expect(page.get_by_test_id("volume-status")).to_contain_text("available", timeout=15_000)
    expect(page.get_by_test_id("volume-size")).to_contain_text("13 GiB")
    expect(page.get_by_test_id("history").locator("tbody tr").first).to_have_attribute("data-outcome", "succeeded")
    assert navigations == [], "the page reloaded"

    rows = live_volpanel.audit_rows()
    assert [(r["action"], r["outcome"], r["actor_name"]) for r in rows[-1:]] == [("os-extend", "succeeded", "alice")]


def test_it_explains_disabled_actions_and_refuses_bad_sizes(page: Any, demo: Any) -> None:
    log_in(page)
    page.get_by_role("link", name="web-root").click()
    page.locator("summary", has_text="Revert to snapshot").click()
    expect(page.get_by_test_id("reason-revert")).to_have_text("Revert needs a snapshot; this volume has none.")
    page.locator("summary", has_text="Extend").click()
    page.get_by_label("New size (GiB)").fill("5")
    page.get_by_role("button", name="Extend").click()
    expect(page.get_by_text("The new size must be larger than the current 20 GiB.")).to_be_visible()
