"""A tenant's session in Chromium beyond single actions: a cloud without Compute or Image, the announcement
region and the stream indicator, logging out and in again, switching projects — with and without JavaScript."""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, log_in, open_page

pytestmark = pytest.mark.browser


def panel(page: Any, action: str) -> Any:
    details = page.locator(f"details[data-action={action}]")
    details.locator("summary").click()
    return details


def test_it_degrades_quietly_on_a_storage_only_cloud(page: Any, demo: Any) -> None:
    demo.config(without=["compute", "image"], delay=0.8)
    # Counted from here: the live server may still be following a volume of an earlier test, with its session.
    demo.quiet()
    log_in(page)  # after the switch: the catalog comes with the token
    expect(page.get_by_role("link", name="web-root", exact=True)).to_be_visible()

    page.get_by_role("link", name="web-root", exact=True).click()
    note = page.get_by_test_id("services-note")
    expect(note).to_have_count(1)
    expect(note).to_contain_text("This cloud has no Compute (Nova) and no Image (Glance) service")
    expect(note).to_contain_text("Attaching to a host and every other volume action work as usual.")
    expect(page.locator("details[data-action=attach_server]")).to_have_count(0)
    expect(page.get_by_test_id("nova-extend")).to_have_count(0)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Volumes").click()
    page.get_by_role("link", name="scratch", exact=True).click()
    upload = panel(page, "upload")
    expect(upload.get_by_test_id("reason-upload")).to_have_text("This cloud has no Image service to upload to.")
    expect(upload.locator("form")).to_have_count(0)

    attach = panel(page, "attach_host")
    attach.get_by_label("Host name").fill("storage-node-3")
    attach.get_by_label("Mountpoint").fill("/dev/sdd")
    attach.get_by_role("button", name="Attach to host").click()
    # On a loaded machine the outcome may already have replaced the acceptance when the browser looks.
    expect(page.get_by_test_id("announcement")).to_contain_text(re.compile("Attach to host (accepted|succeeded)"))
    expect(page.get_by_test_id("history").locator("tbody tr").first).to_have_attribute(
        "data-outcome", "succeeded", timeout=20_000)
    expect(page.get_by_test_id("attachments")).to_contain_text("/dev/sdd")

    served = demo.requests_served()
    assert [key for key in served if "/compute" in key or "/image" in key] == []


def test_it_keeps_one_announcement_region_and_says_when_the_stream_is_live_or_settled(page: Any, demo: Any) -> None:
    demo.config(delay=3.0)
    log_in(page)
    page.get_by_role("link", name="data-01", exact=True).click()
    region = page.locator("#volume-announce")
    expect(region).to_have_attribute("aria-live", "polite")
    region.evaluate("el => { el.dataset.kept = 'yes'; }")

    form = panel(page, "extend")
    # The quota is next to the field, before anything is sent.
    expect(form).to_contain_text("Your project has 44 GiB of quota left, so at most 54 GiB.")
    form.get_by_label("New size (GiB)").fill("60")
    form.get_by_role("button", name="Extend").click()
    error = page.locator("#id_extend_new_size_error")
    expect(error).to_contain_text("needs 50 GiB more; your project has 44 GiB of quota left")
    expect(page.get_by_label("New size (GiB)")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("New size (GiB)").fill("11")
    page.get_by_role("button", name="Extend").click()
    announcement = page.get_by_test_id("announcement")
    expect(announcement).to_contain_text("Extend accepted by the cloud. The status below follows the volume live.")
    indicator = page.locator("[data-stream-indicator]")
    expect(indicator).to_have_class("live-indicator is-connected")
    expect(indicator).to_have_text("Live: status updates arrive as the volume changes.")

    expect(announcement).to_contain_text(
        re.compile(r"Extend (succeeded|accepted by the cloud and already done): The volume is now 11 GiB\."),
        timeout=20_000)
    expect(indicator).to_have_text("The volume has settled.")
    # No stale banner: nothing on the page still claims the action is under way.
    expect(page.get_by_text("follows the volume live")).to_have_count(0)
    expect(region).to_have_attribute("data-kept", "yes")
    expect(page.locator("[role=status][aria-live]#volume-announce")).to_have_count(1)
    # Times read both ways in the History.
    expect(page.get_by_test_id("history").locator("tbody tr").first.locator("time")).to_have_attribute(
        "datetime", re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$"))
    expect(page.get_by_test_id("history").locator("tbody tr").first).to_contain_text("(just now)")


def test_it_says_when_the_live_stream_drops_and_recovers(browser: Any, demo: Any, live_volpanel: LiveServer) -> None:
    demo.config(delay=3.0)
    with open_page(browser, live_volpanel.url) as (page, errors):
        log_in(page)
        page.get_by_role("link", name="scratch", exact=True).click()
        page.route("**/stream/**", lambda route: route.abort())
        form = panel(page, "extend")
        form.get_by_label("New size (GiB)").fill("2")
        form.get_by_role("button", name="Extend").click()
        indicator = page.locator("[data-stream-indicator]")
        expect(indicator).to_have_class("live-indicator is-dropped")
        expect(indicator).to_contain_text("Live updates dropped; reconnecting")
        page.unroute("**/stream/**")
        expect(page.get_by_test_id("announcement")).to_contain_text(
            re.compile("Extend (succeeded|accepted by the cloud and already done)"), timeout=30_000)
        expect(indicator).to_have_text("The volume has settled.")
    # The aborted stream is the only thing the console complained about (the SSE extension logs the error event).
    assert "Failed to load resource: net::ERR_FAILED" in errors
    assert set(errors) <= {"Failed to load resource: net::ERR_FAILED", "[object Event]"}, errors


def session_token(live: LiveServer, session_key: str) -> str:
    from django.contrib.sessions.backends.db import SessionStore

    with sqlite3.connect(live.db_path) as db:
        row = db.execute("SELECT session_data FROM django_session WHERE session_key = ?", (session_key,)).fetchone()
    assert row is not None, "the live server has no such session"
    credentials = json.loads(SessionStore().decode(row[0])["volpanel.credentials"])
    return json.loads(credentials["auth_state"])["auth_token"]


def token_is_live(demo: Any, token: str) -> bool:
    response = requests.get(f"{demo.base}/identity/v3/auth/tokens",
                            headers={"X-Auth-Token": token, "X-Subject-Token": token}, timeout=5)
    return response.status_code == 200


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_it_logs_out_revokes_the_keystone_token_and_logs_in_again(
        browser: Any, demo: Any, live_volpanel: LiveServer, javascript: bool) -> None:
    with open_page(browser, live_volpanel.url, java_script_enabled=javascript) as (page, errors):
        log_in(page)
        session = next(c["value"] for c in page.context.cookies() if c["name"] == "sessionid")
        token = session_token(live_volpanel, session)
        assert token_is_live(demo, token)
        assert token not in page.content()

        page.get_by_role("button", name="Log out").click()
        page.wait_for_url("**/login/")
        assert not token_is_live(demo, token), "logout must revoke the Keystone token"
        page.goto("/volumes/")
        page.wait_for_url("**/login/?next=%2Fvolumes%2F")
        expect(page.get_by_label("User name")).to_be_visible()

        log_in(page)
        expect(page.get_by_role("link", name="data-01", exact=True)).to_be_visible()
        again = next(c["value"] for c in page.context.cookies() if c["name"] == "sessionid")
        assert again != session and token_is_live(demo, session_token(live_volpanel, again))
    assert errors == []


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_it_switches_project_and_shows_only_that_project_s_volumes(
        browser: Any, demo: Any, live_volpanel: LiveServer, javascript: bool) -> None:
    with open_page(browser, live_volpanel.url, java_script_enabled=javascript) as (page, errors):
        log_in(page, user="carol", project="demo")
        expect(page.get_by_role("heading", name="Volumes in demo")).to_be_visible()
        expect(page.get_by_role("link", name="data-01", exact=True)).to_be_visible()
        expect(page.get_by_role("link", name="bob-secret", exact=True)).to_have_count(0)
        data01 = page.get_by_role("link", name="data-01", exact=True).get_attribute("href")

        page.get_by_label("Project").select_option(label="other")
        page.get_by_role("button", name="Switch").click()
        expect(page.get_by_text("Now working in project other.")).to_be_visible()
        expect(page.get_by_role("heading", name="Volumes in other")).to_be_visible()
        expect(page.get_by_role("link", name="bob-secret", exact=True)).to_be_visible()
        for name in ("data-01", "web-root", "scratch", "archive-gold"):
            expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
        expect(page.get_by_label("Project")).to_have_value(demo.state()["volumes"][demo.volume("bob-secret")["id"]]
                                                           ["project_id"])
        # The first project's volume is out of reach from here, by URL too.
        response = page.goto(data01)
        assert response is not None and response.status == 404
        page.go_back()

        page.get_by_label("Project").select_option(label="demo")
        page.get_by_role("button", name="Switch").click()
        expect(page.get_by_role("link", name="data-01", exact=True)).to_be_visible()
        expect(page.get_by_role("link", name="bob-secret", exact=True)).to_have_count(0)
    assert [e for e in errors if "404" not in e] == []


def test_it_validates_next_to_the_field_and_acts_without_javascript(browser: Any, demo: Any,
                                                                     live_volpanel: LiveServer) -> None:
    with open_page(browser, live_volpanel.url, java_script_enabled=False) as (page, errors):
        log_in(page)
        page.get_by_role("link", name="web-root", exact=True).click()
        form = panel(page, "extend")
        form.get_by_label("New size (GiB)").fill("5")
        form.get_by_role("button", name="Extend").click()
        expect(page.locator("#id_extend_new_size_error")).to_have_text(
            "The new size must be larger than the current 20 GiB.")
        expect(page.locator("details[data-action=extend]")).to_have_attribute("open", "")
        page.get_by_label("New size (GiB)").fill("21")
        page.get_by_role("button", name="Extend").click()
        page.wait_for_url("**/volumes/*/")
        expect(page.get_by_text("Extend accepted by the cloud")).to_be_visible()
        expect(page.get_by_text("Request id req-")).to_be_visible()
    # The refused form answers 400 on purpose (a plain POST with errors); nothing else went wrong.
    assert errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
