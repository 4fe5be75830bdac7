"""A volpanel of a test's own under gunicorn (uvicorn worker, as in production), with the database the test
chooses, and a tenant session that talks to it over HTTP as a browser without JavaScript would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from tests.conftest import DEMO_PORT, ROOT, Demo, free_port


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=180)


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "DEMOCLOUD_PORT": str(DEMO_PORT),
           "VOLPANEL_POLL_INTERVAL": "0.2", "DJANGO_SETTINGS_MODULE": "volpanel.settings", **extra}
    env.pop("OS_AUTH_URL", None)
    return env


class Gunicorn:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        migrated = manage(env, "migrate", "--noinput", "-v0")
        assert migrated.returncode == 0, migrated.stderr
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "volpanel.asgi:application", "-c",
             "volpanel/gunicorn.conf.py", "--bind", f"127.0.0.1:{self.port}"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(f"{self.url}/login/", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass  # not listening yet, or a new worker still importing Django on a busy machine
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("volpanel did not start: " + self.log_path.read_text())
            time.sleep(0.2)

    def workers(self) -> list[int]:
        """The worker processes gunicorn's master (the process this test started) has forked."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


class Tenant:
    """A logged-in browser session (cookies, CSRF token) on a live volpanel."""

    def __init__(self, base: str, user: str = "alice", project: str = "demo") -> None:
        self.base = base
        self.http = requests.Session()
        self.http.get(f"{base}/login/", timeout=10)
        response = self.post("/login/", {"username": user, "password": "demo", "project": project})
        assert response.status_code == 302, response.text[:500]

    def post(self, path: str, data: dict[str, str], timeout: float = 30, **headers: str) -> requests.Response:
        return self.http.post(f"{self.base}{path}", data={**data, "csrfmiddlewaretoken": self.http.cookies[
            "csrftoken"]}, headers={"Referer": f"{self.base}{path}", **headers}, allow_redirects=False,
            timeout=timeout)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(f"{self.base}{path}", timeout=30, **kwargs)


def flash(page: str) -> str:
    return " ".join(" ".join(f.split()) for f in re.findall(r'class="flash flash-[a-z]+"[^>]*>(.*?)</', page, re.S))


def action_calls(demo: Demo) -> int:
    """Calls that carry an action (Cinder's /action, Nova's attach and detach) the demo cloud has served."""
    return sum(n for key, n in demo.requests_served().items()
               if (key.startswith("POST") and key.endswith("/action")) or "os-volume_attachments" in key
               and not key.startswith("GET"))
