"""What the page, action and memory benchmarks share: the demo cloud and volpanel under gunicorn (the ASGI
worker of volpanel/gunicorn.conf.py) on free loopback ports, a logged-in browser session, and percentiles."""

from __future__ import annotations

import functools
import os
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
GUNICORN = str(Path(PY).parent / "gunicorn")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:  # not listening yet, or still importing Django
            time.sleep(0.2)
    raise RuntimeError(f"{url} never answered")


@functools.cache
def reference_cpu_ms() -> float:
    """CPU time of a fixed pure-Python loop, best of three: how fast this machine's cores ran Python when the
    bench started. Machines of the same kind have differed by 2-3x from one session to another (shared hosts),
    so a figure read next to this one can be compared with a figure from another day."""
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        sum(i * i for i in range(2_000_000))
        best = min(best, time.process_time() - start)
    return best * 1000


def load() -> str:
    """The machine's load averages, printed next to every figure (the machine is shared), and its speed."""
    one, five, fifteen = os.getloadavg()
    return (f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores; "
            f"reference loop {reference_cpu_ms():.0f} ms")


@dataclass
class Stack:
    base: str  # volpanel
    demo: str | None  # the demo cloud's root, None against a real cloud
    web_pid: int  # the first (or only) gunicorn worker
    db_path: Path
    master_pid: int = 0
    demo_pid: int = 0

    def worker_pids(self) -> list[int]:
        return _children(self.master_pid)

    def login(self, user: str = "alice", password: str = "demo", project: str = "demo") -> requests.Session:
        return login(self.base, user, password, project)

    def demo_volume_id(self, name: str) -> str:
        assert self.demo is not None
        state = requests.get(f"{self.demo}/_demo/state", timeout=5).json()
        return next(v["id"] for v in state["volumes"].values() if v["name"] == name)


def login(base: str, user: str = "alice", password: str = "demo", project: str = "demo") -> requests.Session:
    """A browser-like session logged in to volpanel at `base` (the login form, with its CSRF token)."""
    s = requests.Session()
    s.get(f"{base}/login/", timeout=30)
    r = s.post(f"{base}/login/", data={"username": user, "password": password, "project": project,
                                       "csrfmiddlewaretoken": s.cookies["csrftoken"]},
               headers={"Referer": f"{base}/login/"}, allow_redirects=False, timeout=30)
    if r.status_code != 302:
        raise RuntimeError(f"login as {user} failed: {r.status_code} {r.text[:300]}")
    return s


@contextmanager
def database(database_url: str) -> Iterator[Any]:
    """A connection to volpanel's database, a SQLite file or PostgreSQL (for counting what the stack wrote)."""
    if database_url.startswith("sqlite:///"):
        conn: Any = sqlite3.connect(database_url.removeprefix("sqlite:///"))
    else:
        import psycopg

        conn = psycopg.connect(database_url.replace("postgres://", "postgresql://", 1))
    try:
        yield conn
        conn.commit()
    finally:
        conn.close()


def start_demo_cloud(delay: float) -> tuple[subprocess.Popen[bytes], int]:
    """The demo cloud on a free loopback port, answering; the caller stops the process."""
    port = free_port()
    proc = subprocess.Popen([PY, "-m", "volpanel.democloud", "--port", str(port), "--delay", str(delay)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/_demo/state")
    except BaseException:
        proc.kill()
        raise
    return proc, port


@contextmanager
def running(*, demo_delay: float | None = 0.0, env: dict[str, str] | None = None) -> Iterator[Stack]:
    """The demo cloud (unless `demo_delay` is None: then `env` names a real cloud) and one gunicorn process."""
    tmp = Path(tempfile.mkdtemp(prefix="volpanel-bench-"))
    web_port = free_port()
    # The benchmarks hold hundreds of streams over a few sessions and load pages as fast as they can: the
    # per-session caps (volpanel/volumes/limits.py) are lifted so they measure the server, not the caps.
    lifted = {"VOLPANEL_STREAMS_PER_SESSION": "100000", "VOLPANEL_STREAMS_PER_USER": "100000",
              "VOLPANEL_CLOUD_RATE": "100000", "VOLPANEL_CLOUD_BURST": "100000"}
    full_env = {**lifted, **os.environ, "DATABASE_URL": f"sqlite:///{tmp}/db.sqlite3", **(env or {})}
    procs: list[subprocess.Popen[bytes]] = []
    demo = None
    try:
        if demo_delay is not None:
            full_env.pop("OS_AUTH_URL", None)
            full_env.pop("OS_CLOUD", None)
            demo_proc, demo_port = start_demo_cloud(demo_delay)
            procs.append(demo_proc)
            full_env["DEMOCLOUD_PORT"] = str(demo_port)
            demo = f"http://127.0.0.1:{demo_port}"
        subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=full_env, check=True)
        web = subprocess.Popen(
            [GUNICORN, "volpanel.asgi:application", "-c", "volpanel/gunicorn.conf.py",
             "--bind", f"127.0.0.1:{web_port}", "--access-logfile", "/dev/null"],
            cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=(tmp / "gunicorn.log").open("wb"))
        procs.append(web)
        base = f"http://127.0.0.1:{web_port}"
        wait_http(f"{base}/healthz")
        yield Stack(base=base, demo=demo, web_pid=_worker_pid(web.pid), db_path=tmp / "db.sqlite3",
                    master_pid=web.pid, demo_pid=procs[0].pid if demo else 0)
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def _children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in children.read_text().split()] if children.exists() else []


def _worker_pid(master: int) -> int:
    """gunicorn's first worker process: the one serving requests, whose memory counts."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pids = _children(master)
        if pids:
            return pids[0]
        time.sleep(0.1)
    raise RuntimeError("gunicorn started no worker")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (NaN for no values)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def summary(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (f"p50 {percentile(ms, 50):7.2f} ms  p95 {percentile(ms, 95):7.2f} ms  "
            f"mean {statistics.fmean(ms):7.2f} ms  n={len(ms)}")


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    if not found:
        raise RuntimeError("no CSRF token in the page")
    return found.group(1)


def keystone_token(auth_url: str, user: str, password: str, project: str) -> tuple[str, dict[str, Any]]:
    """A project-scoped token and its catalog, straight from Keystone (for the raw Cinder calls)."""
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "password": password, "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}}
    r = requests.post(f"{auth_url.rstrip('/')}/auth/tokens", json=body, timeout=30)
    r.raise_for_status()
    return r.headers["X-Subject-Token"], r.json()["token"]


def endpoint(token_body: dict[str, Any], service_types: tuple[str, ...], interface: str = "public") -> str:
    for service in token_body["catalog"]:
        if service["type"] in service_types:
            for ep in service["endpoints"]:
                if ep["interface"] == interface:
                    return ep["url"].rstrip("/")
    raise RuntimeError(f"no {service_types} endpoint in the catalog")
