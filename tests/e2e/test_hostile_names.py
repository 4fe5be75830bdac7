"""Hostile names in the real browser: volumes, snapshots, servers and images named with markup, `javascript:`
URLs and bidi/control characters — set as a tenant would, through the clouds' APIs and the dashboard's own form —
render as text on the list, detail and audit pages; no dialog opens, no script runs, the CSP blocks nothing."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, log_in, open_page

pytestmark = pytest.mark.browser

VOLUME = "<img src=x onerror=alert(1)>"
DESCRIPTION = "\"><svg onload=alert(2)>"
SNAPSHOT = "'><svg onload=alert(3)><a href=javascript:alert(3)>snap</a>"
SERVER = "<script>alert(4)</script>"
OTHER_SERVER = "\"><svg onload=alert(5)>"
IMAGE = "javascript:alert(6)//<img src=x onerror=alert(6)>"
# Right-to-left override, isolate, zero-width space and a bell: shown as they are, reordering nothing outside.
BIDI = "\u202etxt.exe\u2066 inv\u200boice\u2069 \x07bell"
INJECTED = "img[src='x'], svg[onload], script:not([src]), a[href^='javascript:'], [onerror], [onload]"


class Tenant:
    """alice, talking to Keystone, Cinder and Nova directly, as the openstack CLI would."""

    def __init__(self, demo: Any) -> None:
        auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "alice", "domain": {"name": "Default"}, "password": "demo"}}},
            "scope": {"project": {"name": "demo", "domain": {"name": "Default"}}}}}
        response = requests.post(f"{demo.base}/identity/v3/auth/tokens", json=auth, timeout=5)
        response.raise_for_status()
        self.headers = {"X-Auth-Token": response.headers["X-Subject-Token"]}
        catalog = {e["type"]: e for e in response.json()["token"]["catalog"]}

        def public(kind: str) -> str:
            return next(e["url"] for e in catalog[kind]["endpoints"] if e["interface"] == "public")

        self.cinder, self.nova = public("volumev3"), public("compute")

    def call(self, method: str, url: str, body: dict[str, Any]) -> dict[str, Any]:
        response = requests.request(method, url, json=body, headers=self.headers, timeout=5)
        assert response.status_code in (200, 202), response.text
        return response.json()

    def wait(self, kind: str, item_id: str) -> None:
        deadline = time.monotonic() + 10
        while requests.get(f"{self.cinder}/{kind}s/{item_id}", headers=self.headers,
                           timeout=5).json()[kind]["status"] != "available":
            assert time.monotonic() < deadline, f"{kind} {item_id} never became available"
            time.sleep(0.1)


def test_it_renders_hostile_names_as_text_and_runs_no_script(browser: Any, demo: Any,
                                                             live_volpanel: LiveServer) -> None:
    tenant = Tenant(demo)
    volume = tenant.call("POST", f"{tenant.cinder}/volumes",
                         {"volume": {"size": 1, "name": VOLUME, "description": DESCRIPTION}})["volume"]
    tenant.wait("volume", volume["id"])
    snapshot = tenant.call("POST", f"{tenant.cinder}/snapshots",
                           {"snapshot": {"volume_id": volume["id"], "name": SNAPSHOT}})["snapshot"]
    tenant.wait("snapshot", snapshot["id"])
    bidi = tenant.call("POST", f"{tenant.cinder}/volumes", {"volume": {"size": 1, "name": BIDI}})["volume"]
    tenant.wait("volume", bidi["id"])
    tenant.call("PUT", f"{tenant.nova}/servers/{demo.server_id('web-1')}", {"server": {"name": SERVER}})
    tenant.call("PUT", f"{tenant.nova}/servers/{demo.server_id('db-1')}", {"server": {"name": OTHER_SERVER}})

    dialogs: list[str] = []
    with open_page(browser, live_volpanel.url) as (page, errors):
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

        def clean(where: str) -> None:
            assert page.locator(INJECTED).count() == 0, f"markup from a name became live on {where}"
            assert dialogs == [] and errors == [], (where, dialogs, errors)

        log_in(page)
        link = page.get_by_role("link", name=VOLUME, exact=True)
        expect(link).to_have_text(VOLUME)
        bidi_link = page.locator(f"a[href='/volumes/{bidi['id']}/']")
        assert bidi_link.text_content() == BIDI
        # The override stays inside the name: it is isolated from the text around it.
        assert bidi_link.locator("bdi").evaluate("el => getComputedStyle(el).unicodeBidi") == "isolate"
        clean("the volume list")

        page.goto(f"/volumes/{bidi['id']}/")
        assert page.get_by_role("heading", level=1).text_content() == BIDI
        assert page.locator(".breadcrumb bdi").text_content() == BIDI
        clean("a volume named with bidi and control characters")

        link = f"/volumes/{volume['id']}/"
        page.goto(link)
        expect(page.get_by_role("heading", level=1)).to_have_text(VOLUME)
        expect(page.locator(".breadcrumb")).to_contain_text(VOLUME)
        expect(page.get_by_test_id("snapshots")).to_contain_text(SNAPSHOT)
        expect(page.locator(".facts")).to_contain_text(DESCRIPTION)
        options = page.locator("details[data-action=attach_server] option").all_text_contents()
        assert f"{OTHER_SERVER} (ACTIVE)" in options and f"{SERVER} (ACTIVE)" in options
        clean("the hostile volume's page")

        # The tenant names the image in the dashboard's own form; it streams back as text.
        upload = page.locator("details[data-action=upload]")
        upload.locator("summary").click()
        upload.get_by_label("Image name").fill(IMAGE)
        upload.get_by_role("button", name="Upload to image").click()
        expect(page.get_by_test_id("announcement")).to_contain_text(re.compile("Upload to image (accepted|succeeded)"))
        expect(page.get_by_test_id("image-progress")).to_contain_text(f"{IMAGE}: active", timeout=20_000)
        expect(page.get_by_test_id("history").locator("tbody tr").first).to_have_attribute(
            "data-outcome", "succeeded")
        expect(page.get_by_test_id("announcement")).to_contain_text(f"Image {IMAGE} is active.")
        clean("the hostile volume's page after an upload")

        page.goto(f"/volumes/{demo.volume('web-root')['id']}/")
        expect(page.get_by_test_id("attachments")).to_contain_text(f"Server {SERVER}")
        clean("a volume attached to a hostile server name")

        page.get_by_role("button", name="Log out").click()
        log_in(page, user="admin", project="admin")
        page.goto("/audit/")
        expect(page.locator("main")).to_contain_text(VOLUME)
        # Names from tenants are isolated in the trail too: a bidi override cannot reorder the row around it.
        name_cell = page.locator("main td bdi").filter(has_text=VOLUME).first
        assert name_cell.evaluate("el => getComputedStyle(el).unicodeBidi") == "isolate"
        clean("the audit trail")

        # The detectors are not blind: the same markup planted into the page is found, and the CSP refuses to run
        # its handler (the violation listener reports it); still no dialog.
        page.evaluate("html => document.querySelector('main').insertAdjacentHTML('beforeend', html)", VOLUME)
        expect(page.locator(INJECTED)).to_have_count(1)
        page.wait_for_function("() => document.querySelector(\"img[src='x']\").complete")
        page.wait_for_timeout(200)
        assert any(e.startswith("CSP violation: script-src-attr") for e in errors), errors
        assert dialogs == []
