"""Benchmark: one poller per volume per deployment on PostgreSQL. Cinder volume GETs per minute for one moving
volume watched from every gunicorn worker, with 1, 2 and 4 workers on one PostgreSQL database, next to the
1-worker figure; then the takeover: the worker holding the volume's lease is killed (SIGKILL) and the status
changed at once, timing until another worker holds the lease and until the surviving viewers show the change.

Each worker count gets a fresh database on the PostgreSQL server (dropped afterwards), the demo cloud and
gunicorn with the uvicorn worker polling every `interval`; `data-01` is put into `extending` by the demo admin
(no audit row: only viewers keep a watcher), `viewers` streams are opened (the kernel spreads them over the
workers) and the status flips between `extending` and `retyping` every `flip` seconds during the window.
Loopback only, bounded in time.

    .venv/bin/python bench/shared_poller.py [--workers 1,2,4] [--viewers 100] [--window 30] [--flip 3]
        [--postgres postgresql://postgres@127.0.0.1:5432]
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import threading
import time
import uuid

import psycopg

from common import VOLUME_GET, Admin, StreamStack, Viewers, cookie_header, login, proc_status, raise_nofile, uptime


def lease_holders(url: str) -> list[int]:
    """The worker processes holding a watch lease (volpanel names each lease connection after its process)."""
    with psycopg.connect(url, autocommit=True) as db:
        rows = db.execute("SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                          "WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database() "
                          "AND a.application_name LIKE 'volpanel-watch-%%'").fetchall()
    return sorted(int(name.rsplit("-", 1)[1]) for (name,) in rows)


def run(workers: int, args: argparse.Namespace) -> float:
    name = f"volpanel_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as admin_db:
        admin_db.execute(f'CREATE DATABASE "{name}"')
    url = f"{args.postgres}/{name}"
    try:
        with StreamStack(workers=workers, interval=args.interval, database_url=url) as stack:
            return measure(stack, workers, url, args)
    finally:
        with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as admin_db:
            admin_db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure(stack: StreamStack, workers: int, url: str, args: argparse.Namespace) -> float:
    admin = Admin(stack.demo)
    vid = stack.volumes()["data-01"]
    admin.set_status(vid, "extending")
    cookies = [cookie_header(login(stack.base)) for _ in range(10)]
    time.sleep(2)  # every worker booted
    pids = stack.worker_pids()
    fds = {pid: proc_status(pid)["fds"] for pid in pids}
    viewers = Viewers(stack.web_port, f"/volumes/{vid}/stream/", cookies, args.viewers)
    while viewers.stats.opened + len(viewers.stats.errors) < args.viewers:
        time.sleep(0.1)
    time.sleep(2)  # every stream sent its first state
    spread = [proc_status(pid)["fds"] - fds[pid] for pid in pids]
    stack.cloud_requests(clear=True)
    start = time.time()
    changes: list[float] = []
    stop = threading.Event()

    def flipper() -> None:
        for status in itertools.cycle(["retyping", "extending"]):
            if stop.wait(args.flip):
                return
            changes.append(admin.set_status(vid, status)[1])

    flips = threading.Thread(target=flipper)
    flips.start()
    time.sleep(args.window)
    served = stack.cloud_requests()
    stop.set()
    flips.join()
    deadline = time.monotonic() + 10  # the last change reaches its viewers
    while True:
        got = [len([at for at, _ in mine if at >= start]) for mine in viewers.arrivals]
        if min(got) >= len(changes) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    per_minute = served.get(VOLUME_GET, 0) * 60 / args.window
    holders = lease_holders(url)
    print(f"workers={workers}  volume GETs/min={per_minute:6.1f}  status changes={len(changes)}, events per viewer "
          f"min={min(got)} max={max(got)}  streams per worker (new fds)={spread}  lease holders={holders}  "
          f"errors={len(viewers.stats.errors)}", flush=True)
    if workers > 1 and len(holders) == 1:
        takeover(stack, viewers, admin, vid, url, holders[0])
    viewers.close()
    return per_minute


def takeover(stack: StreamStack, viewers: Viewers, admin: Admin, vid: str, url: str, leader: int) -> None:
    """Kill the lease holder, change the status at once: when does another worker poll, and the survivors see it?"""
    current = viewers.arrivals[0][-1][1] if viewers.arrivals[0] else "extending"
    status = "retyping" if current == "extending" else "extending"
    killed = time.time()
    os.kill(leader, signal.SIGKILL)
    admin.set_status(vid, status)
    new_leader, leased = 0, float("inf")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        holders = [pid for pid in lease_holders(url) if pid != leader]
        if holders:
            new_leader, leased = holders[0], time.time() - killed
            break
        time.sleep(0.05)
    seen = [t - killed for t in viewers.first_after(killed, status, timeout=15) if t != float("inf")]
    seen.sort()
    print(f"  takeover: killed worker {leader}; worker {new_leader} held the lease after {leased:.2f} s; "
          f"{len(seen)} of {len(viewers.arrivals)} viewers (the rest were on the killed worker) showed the change "
          + (f"after p50 {seen[len(seen) // 2]:.2f} s, max {seen[-1]:.2f} s" if seen else "")
          + f"; gunicorn's master forked a new worker: {sorted(stack.worker_pids())}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", default="1,2,4", help="gunicorn worker counts, one run each")
    parser.add_argument("--viewers", type=int, default=100)
    parser.add_argument("--window", type=float, default=30.0, help="seconds counted per run")
    parser.add_argument("--interval", type=float, default=1.0, help="VOLPANEL_POLL_INTERVAL")
    parser.add_argument("--flip", type=float, default=3.0, help="seconds between status changes")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432",
                        help="a PostgreSQL server where a scratch database may be created and dropped")
    args = parser.parse_args()
    raise_nofile()
    print(uptime(), flush=True)
    results = {n: run(n, args) for n in (int(w) for w in args.workers.split(","))}
    base = results.get(1)
    for n, per_minute in results.items():
        ratio = f"{per_minute / base:.2f}x the 1-worker figure" if base else ""
        print(f"workers={n}: {per_minute:6.1f} volume GETs/min  {ratio}")
    print("goal: <= 1.2x the 1-worker figure for every worker count")
    print(uptime())


if __name__ == "__main__":
    main()
