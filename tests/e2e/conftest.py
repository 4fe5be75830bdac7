"""A live volpanel (gunicorn + uvicorn worker, its own SQLite file) in front of the demo cloud, and Chromium."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import DEMO_PORT, ROOT, free_port

CHROMIUM = "/usr/bin/chromium"


class LiveServer:
    def __init__(self, url: str, db_path: Path) -> None:
        self.url = url
        self.db_path = db_path

    def audit_rows(self) -> list[dict[str, Any]]:
        with sqlite3.connect(self.db_path) as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute("SELECT * FROM volpanel_auditentry ORDER BY id")]


@pytest.fixture(scope="session")
def live_volpanel(democloud_process: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("live")
    db_path = tmp / "volpanel.sqlite3"
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{db_path}",
        "DEMOCLOUD_PORT": str(DEMO_PORT),
        "VOLPANEL_POLL_INTERVAL": "0.2",
        "VOLPANEL_NOVA_EVENT_WAIT": "3",  # Nova's extend_volume comes 0.5 s after in-use on the demo cloud
        "DJANGO_SETTINGS_MODULE": "volpanel.settings",
    }
    env.pop("OS_AUTH_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env,
                   check=True)
    log = open(tmp / "gunicorn.log", "w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "volpanel.asgi:application", "-c", "volpanel/gunicorn.conf.py",
         "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    # A loaded machine (the suite shares its cores) can take a while to boot gunicorn and answer the first page.
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{url}/login/", timeout=5).status_code == 200:
                break
        except (requests.ConnectionError, requests.Timeout):
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("volpanel did not start: " + (tmp / "gunicorn.log").read_text())
        time.sleep(0.2)
    yield LiveServer(url, db_path)
    proc.terminate()
    proc.wait(20)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


# Runs in every page before its own scripts: whatever the Content-Security-Policy blocks becomes a console error,
# which fails the test that caused it (CSP reports are otherwise silent to the page and to Playwright).
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline code")
                + " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


@contextmanager
def open_page(browser: Any, base_url: str, **context_options: Any) -> Iterator[tuple[Any, list[str]]]:
    """A page in a fresh browser context, with the script errors, console errors and CSP violations it produced."""
    context = browser.new_context(base_url=base_url, **context_options)
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        yield page, errors
    finally:
        context.close()


@pytest.fixture
def page(browser: Any, demo: Any, live_volpanel: LiveServer) -> Iterator[Any]:
    with open_page(browser, live_volpanel.url) as (page, errors):
        yield page
    assert not errors, errors


def log_in(page: Any, user: str = "alice", project: str = "demo") -> None:
    page.goto("/login/")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill("demo")
    page.get_by_label("Project").fill(project)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/volumes/")
