"""In the browser: an htmx action posted while the database is locked shows the "try again" notice in place
of the page (htmx swaps the 503, per base.html's htmx-config), with no script error; the next try goes through."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import Demo
from tests.e2e.conftest import log_in, open_page
from tests.live_server import Gunicorn, action_calls, server_env

pytestmark = pytest.mark.browser


def test_it_shows_try_again_when_the_database_is_locked(browser: Any, demo: Demo, tmp_path: Path) -> None:
    db_path = tmp_path / "volpanel.sqlite3"
    app = Gunicorn(server_env(f"sqlite:///{db_path}", VOLPANEL_SQLITE_TIMEOUT="1"), tmp_path / "gunicorn.log")
    locker = sqlite3.connect(db_path, isolation_level=None, timeout=5)
    try:
        with open_page(browser, app.url) as (page, errors):
            log_in(page)
            page.get_by_role("link", name="data-01").click()
            calls = action_calls(demo)
            locker.execute("BEGIN IMMEDIATE")
            try:
                details = page.locator("details[data-action=extend]")
                details.locator("summary").click()
                details.get_by_label("New size (GiB)").fill("11")
                details.get_by_role("button", name="Extend").click()
                notice = page.locator("[data-unavailable]")
                expect(notice).to_contain_text("Nothing was sent to the cloud. Try again in a moment")
            finally:
                locker.execute("ROLLBACK")
            assert action_calls(demo) == calls
            notice.get_by_role("link", name="Try again").click()
            expect(page.locator("details[data-action=extend]")).to_be_visible()
            # Chromium itself logs the 503 it loaded; anything else would be a script error.
            assert not [e for e in errors if "503" not in e], errors
    finally:
        locker.close()
        app.stop()
