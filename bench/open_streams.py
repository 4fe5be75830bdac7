"""Benchmark: how many status streams one gunicorn process (uvicorn worker) holds while pages stay fast.

Starts the demo cloud and volpanel (one worker), puts the four seed volumes into a transitional status with the
demo admin's os-reset_status (so streams stay open), opens N SSE streams spread over them from a separate
process, then flips two of the volumes between `extending` and `retyping` every few seconds (every viewer of
those gets each change) while page clients time GET /volumes/<id>/. Prints streams held, errors, page p50/p99,
the worker's memory, threads and file descriptors per stream, database connections (PostgreSQL), and the
Cinder GETs per minute. Loopback only, bounded in time.

    .venv/bin/python bench/open_streams.py [--streams 1000] [--window 40] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing as mp
import queue
import random
import threading
import time
from typing import Any

from common import (
    VOLUME_GET,
    Admin,
    StreamStack,
    StreamStats,
    cookie_header,
    cpu_seconds,
    login,
    percentile,
    proc_status,
    raise_nofile,
    sse_stream,
    uptime,
)

MOVERS = ("data-01", "archive-gold")  # flipped during the window; the other two stay put


def hold_streams(port: int, targets: list[tuple[str, str, str]], ramp: float, reports: mp.Queue,
                 stop: Any) -> None:
    """Child process: open one stream per (path, cookie, volume name), report counts every half second."""

    async def main() -> None:
        stats = StreamStats()
        arrivals: dict[str, list[list[float]]] = {}  # volume name -> per stream, arrival times of status events
        tasks = []
        for i, (path, cookie, name) in enumerate(targets):
            times: list[float] = []
            arrivals.setdefault(name, []).append(times)

            def seen(event: str, data: str, at: float, times: list[float] = times) -> None:
                if event == "status":
                    times.append(at)

            tasks.append(asyncio.create_task(sse_stream("127.0.0.1", port, path, cookie, stats, seen)))
            if i % 50 == 49:
                await asyncio.sleep(50 / ramp)

        def report(final: bool) -> dict[str, Any]:
            return {"opened": stats.opened, "ended": stats.ended, "errors": stats.errors[:5],
                    "error_count": len(stats.errors), "events": stats.events, "final": final,
                    "arrivals": arrivals if final else {}}

        while not stop.is_set():
            reports.put(report(False))
            await asyncio.sleep(0.5)
        reports.put(report(True))
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


def latest(reports: mp.Queue, current: dict[str, Any]) -> dict[str, Any]:
    try:
        while True:
            current = reports.get_nowait()
    except queue.Empty:
        return current


def time_pages(base: str, urls: list[str], until: float, latencies: list[float], failures: list[str]) -> None:
    session = login(base)
    for url in itertools.cycle(urls):
        if time.monotonic() > until:
            return
        started = time.perf_counter()
        r = session.get(url, timeout=30)
        latencies.append(time.perf_counter() - started)
        if r.status_code != 200:
            failures.append(f"{url}: {r.status_code}")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--window", type=float, default=40.0, help="seconds of page timing under load")
    parser.add_argument("--flip", type=float, default=5.0, help="seconds between status changes of the movers")
    parser.add_argument("--page-clients", type=int, default=2)
    parser.add_argument("--baseline", type=float, default=15.0, help="seconds of page timing before any stream")
    parser.add_argument("--sessions", type=int, default=10, help="logged-in browsers the streams are spread over")
    parser.add_argument("--ramp", type=float, default=250.0, help="streams opened per second")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    args = parser.parse_args()

    nofile = raise_nofile()
    print(f"RLIMIT_NOFILE {nofile}; {uptime()}", flush=True)
    with StreamStack(workers=1, interval=1.0, database_url=args.database_url) as stack:
        admin = Admin(stack.demo)
        volumes = stack.volumes()
        for vid in volumes.values():
            admin.set_status(vid, "extending")
        sessions = [login(stack.base) for _ in range(args.sessions)]
        page_urls = [f"{stack.base}/volumes/{vid}/" for vid in volumes.values()]
        for url in page_urls * 3:  # warm-up: templates, imports, connection pools
            sessions[0].get(url, timeout=30).raise_for_status()
        (worker,) = stack.worker_pids()
        before = proc_status(worker)
        # The same page clients with no stream open: what this machine gives right now, to compare against.
        quiet: list[float] = []
        until = time.monotonic() + args.baseline
        clients = [threading.Thread(target=time_pages, args=(stack.base, page_urls, until, quiet, []))
                   for _ in range(args.page_clients)]
        for t in clients:
            t.start()
        for t in clients:
            t.join()
        print(f"no streams, {args.baseline:.0f} s: {len(quiet)} pages, p50 {percentile(quiet, 50) * 1000:.0f} ms, "
              f"p99 {percentile(quiet, 99) * 1000:.0f} ms", flush=True)

        names = list(volumes)
        targets = [(f"/volumes/{volumes[names[i % len(names)]]}/stream/", cookie_header(sessions[i % len(sessions)]),
                    names[i % len(names)]) for i in range(args.streams)]
        reports: mp.Queue = mp.Queue()
        stop = mp.Event()
        child = mp.Process(target=hold_streams, args=(stack.web_port, targets, args.ramp, reports, stop))
        started = time.monotonic()
        child.start()
        report: dict[str, Any] = {"opened": 0}
        while time.monotonic() - started < 90:
            report = latest(reports, report)
            if report["opened"] + report.get("error_count", 0) >= args.streams:
                break
            time.sleep(0.5)
        ramp_seconds = time.monotonic() - started
        time.sleep(3)
        report = latest(reports, report)
        held = proc_status(worker)
        db_connections = pg_connections(args.database_url)
        print(f"streams opened {report['opened']} of {args.streams} in {ramp_seconds:.1f} s; "
              f"errors {report.get('error_count', 0)} {report.get('errors', [])}", flush=True)
        per_stream = (held["rss_kib"] - before["rss_kib"]) / max(report["opened"], 1)
        print(f"worker RSS {before['rss_kib'] / 1024:.0f} MiB -> {held['rss_kib'] / 1024:.0f} MiB "
              f"({per_stream:.1f} KiB per stream); threads {before['threads']} -> {held['threads']}; "
              f"fds {before['fds']} -> {held['fds']}; database connections held: {db_connections}", flush=True)

        # Watchers only: one volume GET per watched volume per interval, however many streams.
        stack.cloud_requests(clear=True)
        cpu = cpu_seconds(worker)
        time.sleep(10)
        polls = stack.cloud_requests()
        print(f"streams idle 10 s: worker CPU {(cpu_seconds(worker) - cpu) * 10:.1f}% of a core; Cinder volume "
              f"GETs/min {polls.get(VOLUME_GET, 0) * 6:.0f} (4 volumes watched), all cloud calls/min "
              f"{sum(polls.values()) * 6:.0f}", flush=True)

        stop_flips = threading.Event()
        flips: list[float] = []  # when each change was answered by the cloud

        def flipper() -> None:
            statuses = itertools.cycle(["retyping", "extending"])
            while not stop_flips.wait(args.flip * random.uniform(0.8, 1.2)):
                status = next(statuses)
                for name in MOVERS:
                    _, answered = admin.set_status(volumes[name], status)
                flips.append(answered)

        stack.cloud_requests(clear=True)
        cpu = cpu_seconds(worker)
        window_start = time.time()
        latencies: list[float] = []
        failures: list[str] = []
        until = time.monotonic() + args.window
        threads = [threading.Thread(target=flipper)] + [
            threading.Thread(target=time_pages, args=(stack.base, page_urls, until, latencies, failures))
            for _ in range(args.page_clients)]
        for t in threads:
            t.start()
        for t in threads[1:]:
            t.join()
        stop_flips.set()
        threads[0].join()
        time.sleep(3)  # the last change reaches its viewers
        served = stack.cloud_requests()
        cpu = cpu_seconds(worker) - cpu
        during = proc_status(worker)
        stop.set()
        while not report.get("final"):
            report = reports.get(timeout=30)
        gets = sum(n for k, n in served.items() if k.startswith("GET /volume"))
        print(f"under load for {args.window:.0f} s ({len(flips)} status changes of {len(MOVERS)} volumes): "
              f"{len(latencies)} pages, p50 {percentile(latencies, 50) * 1000:.0f} ms, "
              f"p99 {percentile(latencies, 99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms, "
              f"failures {len(failures)}; worker CPU {cpu * 100 / (time.time() - window_start):.0f}% of a core",
              flush=True)
        print(f"Cinder GETs/min during it {gets * 60 / args.window:.0f} (volume GETs "
              f"{served.get(VOLUME_GET, 0) * 60 / args.window:.0f}); pages/min {len(latencies) * 60 / args.window:.0f}",
              flush=True)
        for name in MOVERS:
            got = [len([t for t in times if t >= window_start]) for times in report["arrivals"][name]]
            # Change -> event at the viewer, for every viewer of every change (the viewer's first event after it).
            delays = [min((t for t in times if t >= flip), default=float("inf")) - flip
                      for times in report["arrivals"][name] for flip in flips]
            print(f"{len(got)} viewers of {name}: status events each in the window min {min(got)}, max {max(got)} "
                  f"({len(flips)} changes); change -> event p50 {percentile(delays, 50) * 1000:.0f} ms, "
                  f"p99 {percentile(delays, 99) * 1000:.0f} ms (poll interval 1 s)", flush=True)
        print(f"streams still open {report['opened']}, ended by the server {report['ended']}, "
              f"errors {report['error_count']}; worker RSS {during['rss_kib'] / 1024:.0f} MiB, "
              f"threads {during['threads']}, fds {during['fds']}; {uptime()}", flush=True)
        child.join(30)


def pg_connections(database_url: str) -> str:
    if not database_url.startswith("postgres"):
        return "n/a (SQLite)"
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(database_url.rsplit("/", 1)[0] + "/postgres") as conn:
        (count,) = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)).fetchone()
    return str(count)


if __name__ == "__main__":
    main()
