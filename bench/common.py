"""What the stream benchmarks share: the demo cloud and volpanel under gunicorn on loopback, logins, the demo
cloud's admin reset-status (to move a volume at a known instant), an asyncio SSE client for many streams, and
/proc readings of a worker process."""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

# The stream benchmarks import login, percentile and cpu_seconds from here too (explicit re-exports).
from stack import cpu_seconds as cpu_seconds
from stack import login as login
from stack import percentile as percentile
from stack import running

VOLUME_GET = "GET /volume/v3/{project_id}/volumes/{volume_id}"
SEED_VOLUMES = ("data-01", "web-root", "archive-gold", "scratch")


def raise_nofile() -> int:
    """Every open stream is a socket in the bench and in the worker: lift the soft limit to the hard one
    (children, gunicorn included, inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def cookie_header(session: requests.Session) -> str:
    return "; ".join(f"{k}={v}" for k, v in session.cookies.items())


class StreamStack:
    """bench/stack.running for the stream benchmarks: the demo cloud (its transitions held `delay` seconds, so a
    volume stays where the admin puts it) and gunicorn with `workers` ASGI workers polling every `interval`."""

    def __init__(self, *, workers: int = 1, interval: float = 1.0, delay: float = 600.0,
                 database_url: str = "") -> None:
        env = {"WEB_CONCURRENCY": str(workers), "VOLPANEL_POLL_INTERVAL": str(interval)}
        if database_url:
            env["DATABASE_URL"] = database_url
        self._running = running(demo_delay=delay, env=env)

    def __enter__(self) -> StreamStack:
        self._stack = self._running.__enter__()
        assert self._stack.demo is not None
        self.base, self.demo = self._stack.base, self._stack.demo
        self.web_port = int(self.base.rsplit(":", 1)[1])
        return self

    def __exit__(self, *exc: object) -> None:
        self._running.__exit__(None, None, None)

    @property
    def master_pid(self) -> int:
        return self._stack.master_pid

    def worker_pids(self) -> list[int]:
        return self._stack.worker_pids()

    def volumes(self) -> dict[str, str]:
        """Seed volume name -> id."""
        state = requests.get(f"{self.demo}/_demo/state", timeout=5).json()
        return {v["name"]: v["id"] for v in state["volumes"].values() if v["name"] in SEED_VOLUMES}

    def cloud_requests(self, clear: bool = False) -> dict[str, int]:
        counts = requests.get(f"{self.demo}/_demo/requests", timeout=5).json()["counts"]
        if clear:
            requests.delete(f"{self.demo}/_demo/requests", timeout=5)
        return counts


class Admin:
    """The demo cloud's admin, who can set a volume's status at will (os-reset_status), as an operator can."""

    def __init__(self, demo: str) -> None:
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"}, "password": "demo"}}},
            "scope": {"project": {"name": "demo", "domain": {"name": "Default"}}}}}
        r = requests.post(f"{demo}/identity/v3/auth/tokens", json=body, timeout=10)
        r.raise_for_status()
        self.session = requests.Session()
        self.session.headers["X-Auth-Token"] = r.headers["X-Subject-Token"]
        self.volume_url = f"{demo}/volume/v3/{r.json()['token']['project']['id']}/volumes"

    def set_status(self, volume_id: str, status: str) -> tuple[float, float]:
        """Wall-clock times just before the request and just after the answer: the change lies between."""
        before = time.time()
        r = self.session.post(f"{self.volume_url}/{volume_id}/action",
                              json={"os-reset_status": {"status": status}}, timeout=10)
        after = time.time()
        r.raise_for_status()
        return before, after


@dataclass
class StreamStats:
    opened: int = 0  # answered 200 and still open
    ended: int = 0  # closed by the server (settled)
    errors: list[str] = field(default_factory=list)
    events: int = 0


async def sse_stream(host: str, port: int, path: str, cookie: str, stats: StreamStats,
                     on_event: Callable[[str, str, float], None] = lambda name, data, at: None) -> None:
    """One EventSource-like connection: counts events, calls on_event(name, data, arrival time)."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        stats.errors.append(f"connect: {exc}")
        return
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n"
                     f"Accept: text/event-stream\r\n\r\n".encode())
        status_line = await reader.readline()
        headers = []
        while (line := await reader.readline()) not in (b"\r\n", b""):
            headers.append(line.decode().lower())
        if not status_line.startswith(b"HTTP/1.1 200"):
            stats.errors.append(f"status {status_line.decode().strip()!r}")
            return
        assert "transfer-encoding: chunked\r\n" in headers, headers
        stats.opened += 1
        buffer = ""
        try:
            while True:
                size_line = await reader.readline()
                if not size_line:
                    stats.errors.append("connection dropped")
                    return
                size = int(size_line.strip(), 16)
                if size == 0:
                    stats.ended += 1
                    return
                chunk = await reader.readexactly(size + 2)
                at = time.time()
                buffer += chunk[:-2].decode()
                while "\n\n" in buffer:
                    block, buffer = buffer.split("\n\n", 1)
                    name = next((ln[7:] for ln in block.splitlines() if ln.startswith("event: ")), "")
                    if name:
                        stats.events += 1
                        on_event(name, "\n".join(ln[6:] for ln in block.splitlines() if ln.startswith("data: ")),
                                 at)
        finally:
            stats.opened -= 1
    except (OSError, asyncio.IncompleteReadError) as exc:
        stats.errors.append(f"read: {exc!r}")
    finally:
        writer.close()


class Viewers:
    """Streams of one volume in a background event loop, recording when each status event arrived (and which of
    `extending`/`retyping` it showed)."""

    def __init__(self, port: int, path: str, cookies: list[str], count: int) -> None:
        self.arrivals: list[list[tuple[float, str]]] = [[] for _ in range(count)]
        self.stats = StreamStats()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run(port, path, cookies)), daemon=True)
        self.thread.start()

    async def _run(self, port: int, path: str, cookies: list[str]) -> None:
        def recorder(mine: list[tuple[float, str]]):  # noqa: ANN202
            def seen(event: str, data: str, at: float) -> None:
                if event == "status":
                    mine.append((at, "retyping" if "retyping" in data else "extending"))
            return seen

        tasks = [asyncio.create_task(sse_stream("127.0.0.1", port, path, cookies[i % len(cookies)], self.stats,
                                                recorder(mine))) for i, mine in enumerate(self.arrivals)]
        while not self.stop.is_set():
            await asyncio.sleep(0.1)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)

    def first_after(self, since: float, status: str, timeout: float = 10.0) -> list[float]:
        """Per viewer, when the first event showing `status` arrived after `since`."""
        deadline = time.monotonic() + timeout
        while True:
            found = [next((at for at, s in mine if at >= since and s == status), None) for mine in self.arrivals]
            if all(found) or time.monotonic() > deadline:
                return [f if f is not None else float("inf") for f in found]
            time.sleep(0.01)


def proc_status(pid: int) -> dict[str, int]:
    """RSS (KiB), threads and open file descriptors of a process."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {"rss_kib": int(fields["VmRSS"].split()[0]), "threads": int(fields["Threads"]),
            "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
