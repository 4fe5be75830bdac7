"""Accessibility in Chromium: axe-core finds no serious or critical violation on the login, list, detail and audit
pages; status changes reach screen readers; an action works from the keyboard alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, log_in, open_page

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"


@pytest.fixture
def a11y_page(browser: Any, demo: Any, live_volpanel: LiveServer) -> Iterator[Any]:
    # add_script_tag inserts axe as an inline <script>, which the pages' CSP (script-src 'self') rightly refuses.
    # Only these tests bypass the CSP, to inject the checker; the CSP itself is tested in tests/test_security.py
    # and by the other browser tests, which fail on any console error.
    with open_page(browser, live_volpanel.url, bypass_csp=True) as (page, errors):
        yield page
    # The wrong password below answers 401 on purpose.
    assert [e for e in errors if "status of 401" not in e] == []


def serious_violations(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:8]:
            lines.append(f"    {' '.join(node['target'])}: {node['html'][:160]}")
            if node.get("failureSummary"):
                lines.extend("        " + s for s in node["failureSummary"].splitlines())
    return "\n".join(lines)


def assert_accessible(page: Any, where: str) -> None:
    violations = serious_violations(page)
    assert not violations, f"axe on {where}:\n{describe(violations)}"


def test_it_has_no_serious_axe_violations_on_login_list_detail_and_audit(a11y_page: Any, demo: Any) -> None:
    page = a11y_page
    page.goto("/login/")
    assert_accessible(page, "the login page")

    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page, "the login page with an error")

    log_in(page)
    expect(page.get_by_role("link", name="data-01", exact=True)).to_be_visible()
    assert_accessible(page, "the volume list")

    page.get_by_role("link", name="web-root", exact=True).click()
    expect(page.get_by_test_id("volume-status")).to_contain_text("in-use")
    assert_accessible(page, "a settled volume")

    # An open action panel with a validation error, and an open disabled action with its reason.
    page.locator("details[data-action=revert] summary").click()
    extend = page.locator("details[data-action=extend]")
    extend.locator("summary").click()
    extend.get_by_label("New size (GiB)").fill("5")
    extend.get_by_role("button", name="Extend").click()
    expect(page.get_by_text("The new size must be larger than the current 20 GiB.")).to_be_visible()
    assert_accessible(page, "a volume with a validation error in the Extend panel")

    extend.get_by_label("New size (GiB)").fill("21")
    extend.get_by_role("button", name="Extend").click()
    expect(page.get_by_text("Extend accepted by the cloud")).to_be_visible()
    assert_accessible(page, "a volume mid-action, its status streaming")
    expect(page.get_by_test_id("history").locator("tbody tr").first).to_have_attribute(
        "data-outcome", "succeeded", timeout=20_000)

    page.get_by_role("button", name="Log out").click()
    log_in(page, user="admin", project="admin")
    page.goto("/audit/")
    expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
    expect(page.get_by_role("img", name="Actions per day by outcome")).to_be_visible()
    page.get_by_text("The chart's numbers as a table").click()
    assert_accessible(page, "the audit page, its chart and the chart's table")
    page.get_by_test_id("audit-detail-link").first.click()
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    assert_accessible(page, "an audit row's detail")


def test_it_extends_a_volume_from_the_keyboard_and_streams_the_status_into_a_live_region(page: Any,
                                                                                        demo: Any) -> None:
    demo.config(delay=2.0)
    log_in(page)
    page.get_by_role("link", name="data-01", exact=True).click()
    # The volume page is loaded before the keyboard is used (a click returns once the navigation has started: a
    # Tab pressed into the page still loading lands nowhere).
    expect(page.get_by_test_id("volume-status")).to_contain_text("available")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    expect(page.get_by_role("link", name="Skip to content")).to_be_in_viewport()
    summary = page.locator("details[data-action=extend] summary")
    for _ in range(40):
        page.keyboard.press("Tab")
        if summary.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the Extend summary")
    page.keyboard.press("Enter")
    size = page.get_by_label("New size (GiB)")
    expect(size).to_be_visible()
    page.keyboard.press("Tab")
    expect(size).to_be_focused()
    page.keyboard.type("14")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Extend accepted by the cloud")).to_be_visible()
    request_id = page.locator("code.copyable")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    request_id.focus()
    page.keyboard.press("Enter")
    expect(request_id).to_have_attribute("data-copied", "copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == request_id.inner_text().strip()

    # Screen readers announce changes inside a live region that stays in the page; the stream must swap the
    # region's content, never the region itself.
    region = page.locator("#volume-status")
    expect(page.get_by_test_id("volume-status")).to_contain_text("extending")
    expect(region).to_have_attribute("aria-live", "polite")
    region.evaluate("el => { el.dataset.kept = 'yes'; }")
    expect(page.get_by_test_id("volume-status")).to_contain_text("available", timeout=20_000)
    expect(page.get_by_test_id("volume-size")).to_contain_text("14 GiB")
    expect(region).to_have_attribute("data-kept", "yes")
    expect(region).to_have_attribute("aria-live", "polite")
    # Colour is never the only signal: the status is written out.
    expect(page.get_by_test_id("volume-status")).to_have_text("available")


def test_it_has_no_serious_axe_violations_on_a_storage_only_cloud_and_after_an_outcome(a11y_page: Any,
                                                                                        demo: Any) -> None:
    page = a11y_page
    demo.config(without=["compute", "image"])
    log_in(page)
    page.get_by_role("link", name="scratch", exact=True).click()
    expect(page.get_by_test_id("services-note")).to_be_visible()
    page.locator("details[data-action=upload] summary").click()
    expect(page.get_by_test_id("reason-upload")).to_be_visible()
    assert_accessible(page, "a volume on a cloud without Compute or Image, its upload reason open")

    attach = page.locator("details[data-action=attach_host]")
    attach.locator("summary").click()
    attach.get_by_label("Host name").fill("bm-2")
    attach.get_by_role("button", name="Attach to host").click()
    # "succeeded" once streamed, or "accepted by the cloud and already done" when it settled before the answer.
    expect(page.get_by_test_id("announcement")).to_have_attribute("data-outcome", "succeeded", timeout=20_000)
    assert_accessible(page, "a volume whose action's outcome was announced")
