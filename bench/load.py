"""Load: N tenants (demo users tenant01…, each in its own project) log in, browse the volume list and a volume
page, open its status stream and extend the volume, for a bounded time, against volpanel under gunicorn (ASGI
worker, volpanel/gunicorn.conf.py) and the demo cloud with delays off. Loopback only.

Prints requests, errors (transport failures and unexpected statuses), 5xx seen, p50/p95/p99 latency per kind
and overall (streams: time to the first event), actions sent against audit rows counted and against the action
calls the demo cloud served, and the machine's load average.

    .venv/bin/python bench/load.py [--users 50] [--duration 60] [--workers 1] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx

from stack import PY, ROOT, database, free_port

NEW_SIZE = re.compile(r'name="new_size"[^>]*value="(\d+)"|value="(\d+)"[^>]*name="new_size"')
VOLUME_LINK = re.compile(r'href="/volumes/([0-9a-f-]{36})/"')


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} never answered")


class Stats:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.actions_sent = 0  # posts answered as an attempt (redirect to the volume page)
        self.actions_refused_by_form = 0  # 400: the form refused it, nothing sent (e.g. the volume was moving)

    def record(self, kind: str, started: float, status: int | None, expected: tuple[int, ...]) -> None:
        self.latency[kind].append(time.monotonic() - started)
        if status is not None:
            self.statuses[status] += 1
            if status not in expected:
                self.errors[f"{kind} HTTP {status}"] += 1


async def tenant(n: int, base: str, until: float, stats: Stats) -> None:
    name = f"tenant{n:02d}"
    async with httpx.AsyncClient(base_url=base, timeout=30, follow_redirects=False) as http:

        async def call(kind: str, method: str, url: str, expected: tuple[int, ...],
                       **kw: object) -> httpx.Response | None:
            started = time.monotonic()
            try:
                response = await http.request(method, url, **kw)  # type: ignore[arg-type]
            except httpx.HTTPError as exc:
                stats.record(kind, started, None, expected)
                stats.errors[f"{kind} {type(exc).__name__}"] += 1
                return None
            stats.record(kind, started, response.status_code, expected)
            return response

        def form(data: dict[str, str]) -> dict[str, object]:
            return {"data": {**data, "csrfmiddlewaretoken": http.cookies.get("csrftoken", "")}}

        await call("login page", "GET", "/login/", (200,))
        if await call("login", "POST", "/login/", (302,), **form(
                {"username": name, "password": "demo", "project": name})) is None:
            return
        while time.monotonic() < until:
            listing = await call("list", "GET", "/volumes/", (200,))
            found = VOLUME_LINK.search(listing.text) if listing is not None else None
            if found is None:
                stats.errors["list without the tenant's volume"] += 1
                await asyncio.sleep(1)
                continue
            volume = f"/volumes/{found.group(1)}/"
            page = await call("detail", "GET", volume, (200,))
            await call("fragment", "GET", volume + "?partial=status", (200,), headers={"HX-Request": "true"})
            started = time.monotonic()
            try:
                async with http.stream("GET", volume + "stream/", timeout=10) as stream:
                    async for line in stream.aiter_lines():
                        if line.startswith("event:"):
                            break
                    stats.record("stream (first event)", started, stream.status_code, (200,))
            except httpx.HTTPError as exc:
                stats.record("stream (first event)", started, None, (200,))
                stats.errors[f"stream {type(exc).__name__}"] += 1
            size = NEW_SIZE.search(page.text) if page is not None else None
            if size is None:
                continue  # the volume is moving: no extend form this time
            new_size = size.group(1) or size.group(2)
            if int(new_size) > 90:
                continue  # stay inside the project's 100 GiB quota
            answer = await call("action", "POST", volume + "extend/", (302, 400), **form({"new_size": new_size}))
            if answer is not None and answer.status_code == 302:
                stats.actions_sent += 1
            elif answer is not None and answer.status_code == 400:
                stats.actions_refused_by_form += 1


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def audit_rows(database_url: str) -> tuple[int, int]:
    """(rows, rows not final) in volpanel's database."""
    query = ("SELECT count(*), sum(CASE WHEN outcome IN ('pending', 'accepted') THEN 1 ELSE 0 END) "
             "FROM volpanel_auditentry")
    with database(database_url) as db:
        total, open_ = db.execute(query).fetchone()
    return int(total), int(open_ or 0)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")),
                        help="gunicorn workers (WEB_CONCURRENCY)")
    parser.add_argument("--database-url", default="",
                        help="volpanel's database (default: a new SQLite file); its audit table should start empty")
    args = parser.parse_args()
    if not 1 <= args.users <= 99:
        parser.error("--users must be 1-99 (the demo cloud's tenants)")

    tmp = Path(tempfile.mkdtemp(prefix="volpanel-load-"))
    database_url = args.database_url or f"sqlite:///{tmp}/db.sqlite3"
    demo_port, web_port = free_port(), free_port()
    env = {**os.environ, "DEMOCLOUD_PORT": str(demo_port), "DATABASE_URL": database_url,
           "WEB_CONCURRENCY": str(args.workers), "VOLPANEL_LOG_LEVEL": "WARNING",
           # Simulated users load pages as fast as the server answers: the per-session budget would measure itself.
           "VOLPANEL_CLOUD_RATE": "100000", "VOLPANEL_CLOUD_BURST": "100000"}
    env.pop("OS_AUTH_URL", None)
    demo_url, web_url = f"http://127.0.0.1:{demo_port}", f"http://127.0.0.1:{web_port}"
    procs = [subprocess.Popen([PY, "-m", "volpanel.democloud", "--port", str(demo_port), "--delay", "0",
                               "--tenants", str(args.users)], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    try:
        subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
        subprocess.run([PY, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
        procs.append(subprocess.Popen(
            [str(Path(PY).parent / "gunicorn"), "volpanel.asgi:application", "-c", "volpanel/gunicorn.conf.py",
             "--bind", f"127.0.0.1:{web_port}", "--access-logfile", "/dev/null"],
            cwd=ROOT, env=env, stdout=open(tmp / "gunicorn.log", "w"), stderr=subprocess.STDOUT))
        wait_http(f"{demo_url}/_demo/state")
        wait_http(f"{web_url}/login/")
        httpx.delete(f"{demo_url}/_demo/requests")

        stats = Stats()
        started = time.monotonic()

        async def run() -> None:
            until = time.monotonic() + args.duration
            await asyncio.gather(*(tenant(n, web_url, until, stats) for n in range(1, args.users + 1)))

        asyncio.run(run())
        elapsed = time.monotonic() - started
        # Rows settle a poll or two after the last 202: give the watchers a moment before counting.
        deadline = time.monotonic() + 30
        while True:
            rows, unsettled = audit_rows(database_url)
            if unsettled == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        served = httpx.get(f"{demo_url}/_demo/requests").json()["counts"]
        cinder_actions = sum(n for key, n in served.items() if key.startswith("POST") and key.endswith("/action"))
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()

    every = [v for values in stats.latency.values() for v in values]
    total = sum(len(v) for v in stats.latency.values())
    ms = lambda v: f"{v * 1000:.0f} ms"  # noqa: E731
    print(f"load: {args.users} users, {args.duration:.0f} s ({elapsed:.1f} s with the tail), "
          f"{args.workers} gunicorn worker(s), database {database_url.split(':', 1)[0]}")
    print(f"requests: {total} ({total / elapsed:.1f}/s); errors: {sum(stats.errors.values())}"
          + (f" {dict(stats.errors)}" if stats.errors else "")
          + f"; 5xx seen: {sum(n for s, n in stats.statuses.items() if s >= 500)}")
    print(f"latency all requests: p50 {ms(percentile(every, 50))}, p95 {ms(percentile(every, 95))}, "
          f"p99 {ms(percentile(every, 99))}, max {ms(max(every) if every else 0)}")
    for kind in sorted(stats.latency):
        values = stats.latency[kind]
        print(f"  {kind:22} n={len(values):6}  p50 {ms(percentile(values, 50)):>8}  p95 {ms(percentile(values, 95)):>8}"
              f"  p99 {ms(percentile(values, 99)):>8}  mean {ms(statistics.fmean(values)):>8}")
    print(f"actions sent: {stats.actions_sent} (and {stats.actions_refused_by_form} refused by the form, nothing "
          f"sent); audit rows: {rows} ({unsettled} not final); Cinder action calls served: {cinder_actions}")
    print(f"rows match actions sent: {'yes' if rows == stats.actions_sent == cinder_actions else 'NO'}")
    print("uptime:" + subprocess.run(["uptime"], capture_output=True, text=True).stdout.split("up", 1)[-1].rstrip())
    ok = not stats.errors and rows == stats.actions_sent == cinder_actions and unsettled == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
