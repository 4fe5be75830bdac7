"""The README's screenshots, taken from the live server in Chromium: `make screenshots` (re-run it whenever the
pages change). Not part of the test run (the file name does not start with test_); each shot still checks that
the page shows what its caption promises, so a broken page cannot slip into the README."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import ROOT
from tests.e2e.conftest import LiveServer, log_in, open_page

pytestmark = pytest.mark.browser

OUT = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1200, "height": 900}


def shoot(page: Any, name: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    # The copy hint's focus ring and the caret would make every re-run differ for nothing.
    page.mouse.move(0, 0)
    page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
    return path


def page_errors(errors: list[str]) -> list[str]:
    """The page's own console errors. Taking a screenshot makes Chromium apply inline styles (Playwright's
    caret and animation overrides, full-page resizing) that the pages' Content-Security-Policy
    (`style-src 'self'`) blocks, each block a console error arriving some seconds later: those are the tool's."""
    return [e for e in errors if not e.startswith("Applying inline style violates")]


def act(page: Any, action: str, fill: dict[str, str], button: str) -> None:
    details = page.locator(f"details[data-action={action}]")
    details.locator("summary").click()
    for label, value in fill.items():
        field = details.get_by_label(label)
        if field.evaluate("el => el.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    details.get_by_role("button", name=button).click()
    # A quick cloud may have settled it already: the announcement then says how it ended.
    expect(page.get_by_test_id("announcement")).to_contain_text(re.compile("accepted by the cloud|succeeded|failed"))


def settle(page: Any) -> None:
    expect(page.get_by_test_id("history").locator("tbody tr").first).not_to_have_attribute(
        "data-outcome", "accepted", timeout=30_000)


def open_volume(page: Any, name: str) -> None:
    page.goto("/volumes/")
    page.get_by_role("link", name=name, exact=True).click()


def test_partial_cloud(browser: Any, demo: Any, live_volpanel: LiveServer) -> None:
    """A storage-only cloud (no Compute, no Image): one note, server attach left out, upload off with its reason."""
    demo.config(without=["compute", "image"])
    with open_page(browser, live_volpanel.url, viewport=VIEWPORT) as (page, errors):
        log_in(page)
        open_volume(page, "data-01")
        expect(page.get_by_test_id("services-note")).to_be_visible()
        page.locator("details[data-action=upload] summary").click()
        expect(page.get_by_test_id("reason-upload")).to_be_visible()
        shoot(page, "partial-cloud.png")
    demo.config(without=[])
    assert page_errors(errors) == []


def test_volume_mid_action(browser: Any, demo: Any, live_volpanel: LiveServer) -> None:
    """An in-use volume being extended: accepted with its request id, status streaming, Nova's side to come."""
    demo.config(delay=6.0)
    with open_page(browser, live_volpanel.url, viewport=VIEWPORT) as (page, errors):
        log_in(page)
        open_volume(page, "web-root")
        act(page, "extend", {"New size (GiB)": "24"}, "Extend")
        expect(page.get_by_test_id("volume-status")).to_contain_text("extending")
        expect(page.locator("[data-stream-indicator]")).to_have_class("live-indicator is-connected")
        shoot(page, "volume-mid-action.png")
        expect(page.get_by_test_id("announcement")).to_contain_text("Extend succeeded", timeout=30_000)
    assert page_errors(errors) == []


def test_nova_extend(browser: Any, demo: Any, live_volpanel: LiveServer) -> None:
    """A server's volume extended in use: Cinder has finished, the page waits for Nova's extend_volume."""
    demo.config(delay=1.0)
    with open_page(browser, live_volpanel.url, viewport=VIEWPORT) as (page, errors):
        log_in(page)
        open_volume(page, "web-root")
        demo.config(delay=3.0)  # Nova records extend_volume half the delay (1.5 s) after in-use: time for the picture
        act(page, "extend", {"New size (GiB)": "26"}, "Extend")
        expect(page.get_by_test_id("nova-followup")).to_have_attribute("data-state", "waiting", timeout=30_000)
        shoot(page, "nova-extend.png")
        expect(page.get_by_test_id("nova-extend")).to_be_visible(timeout=30_000)
    assert page_errors(errors) == []


def test_snapshot(browser: Any, demo: Any, live_volpanel: LiveServer) -> None:
    """A snapshot taken on the page, still being made: it appears at once and turns available live."""
    demo.config(delay=6.0)
    with open_page(browser, live_volpanel.url, viewport=VIEWPORT) as (page, errors):
        log_in(page)
        open_volume(page, "scratch")
        act(page, "snapshot", {"Name": "before-upgrade", "Description": "taken from volpanel"}, "Take snapshot")
        expect(page.get_by_test_id("snapshots")).to_contain_text("creating")
        shoot(page, "snapshot.png")
        expect(page.get_by_test_id("snapshots")).to_contain_text("available", timeout=30_000)
    assert page_errors(errors) == []


def test_image_properties_and_recorded_host(browser: Any, demo: Any, live_volpanel: LiveServer) -> None:
    """A volume reimaged from cirros (its image properties listed) and attached to a host, whose name comes from
    volpanel's record."""
    demo.config(delay=0.5)
    with open_page(browser, live_volpanel.url, viewport=VIEWPORT) as (page, errors):
        log_in(page)
        open_volume(page, "scratch")
        details = page.locator("details[data-action=reimage]")
        details.locator("summary").click()
        details.get_by_label("Image", exact=True).select_option(label="cirros-0.6.3-x86_64-disk (qcow2, 1 GiB)")
        details.get_by_label("I understand that everything on the volume is replaced").check()
        details.get_by_role("button", name="Reimage").click()
        settle(page)
        expect(page.get_by_test_id("volume-image-metadata")).to_contain_text("image_name = cirros")
        act(page, "attach_host", {"Host name": "bm-7", "Mountpoint": "/dev/vdc"}, "Attach to host")
        settle(page)
        expect(page.get_by_test_id("attachments")).to_contain_text("bm-7 from volpanel's record")
        shoot(page, "image-properties-and-host.png")
    assert page_errors(errors) == []


def test_audit(browser: Any, demo: Any, live_volpanel: LiveServer) -> None:
    """The audit trail with a handful of outcomes: succeeded, failed after the 202, refused by Cinder."""
    demo.config(delay=0.3)
    with open_page(browser, live_volpanel.url, viewport=VIEWPORT) as (page, errors):
        log_in(page)
        open_volume(page, "data-01")
        act(page, "extend", {"New size (GiB)": "12"}, "Extend")
        settle(page)
        open_volume(page, "scratch")
        act(page, "attach_host", {"Host name": "bm-7", "Mountpoint": "/dev/sdc"}, "Attach to host")
        settle(page)
        demo.faults(backend={"retype": "silent"})
        open_volume(page, "archive-gold")
        act(page, "retype", {"New type": "default"}, "Change type")
        settle(page)
        demo.faults(http=[{"service": "volume", "method": "POST", "path": "/action", "status": 409, "times": 1}])
        open_volume(page, "data-01")
        details = page.locator("details[data-action=extend]")
        details.locator("summary").click()
        details.get_by_label("New size (GiB)").fill("13")
        details.get_by_role("button", name="Extend").click()
        expect(page.get_by_test_id("announcement")).to_contain_text("refused by the cloud")
        demo.clear_faults()
        page.get_by_role("button", name="Log out").click()

        log_in(page, user="admin", project="admin")
        page.goto("/audit/")
        expect(page.locator("main")).to_contain_text("archive-gold")
        expect(page.get_by_test_id("audit-chart")).to_be_visible()  # drawn by its own request after the rows
        shoot(page, "audit.png")
    assert page_errors(errors) == []


def test_admin_repair(browser: Any, demo: Any, live_volpanel: LiveServer) -> None:
    """An admin's page for another project's volume, opened from a failed extend: Cinder's message, the suggested
    reset (to the status before the extend) with its reason, and the volume's trail with the repair linked."""
    demo.config(delay=0.3)
    with open_page(browser, live_volpanel.url, viewport=VIEWPORT) as (page, errors):
        log_in(page)
        demo.faults(backend={"extend": "fail"})
        open_volume(page, "data-01")
        act(page, "extend", {"New size (GiB)": "12"}, "Extend")
        expect(page.get_by_test_id("volume-status")).to_contain_text("error_extending", timeout=30_000)
        settle(page)
        demo.clear_faults()
        page.get_by_role("button", name="Log out").click()

        log_in(page, user="admin", project="admin")
        page.goto("/audit/?action=os-extend&outcome=failed")
        page.get_by_test_id("audit-rows").locator("tbody tr").first.get_by_test_id("repair-link").click()
        form = page.locator("details[data-action=reset_status] form")
        form.get_by_label("Reason").fill("Back end checked: the LV did not grow. Back to available to retry.")
        expect(page.get_by_test_id("suggested-repair")).to_contain_text("available")
        form.get_by_role("button", name="Reset status").click()
        expect(page.locator(".messages")).to_contain_text("Reset status")
        page.reload()
        expect(page.get_by_test_id("admin-history").get_by_test_id("repaired-by-link")).to_be_visible()
        shoot(page, "admin-repair.png")
    assert page_errors(errors) == []
