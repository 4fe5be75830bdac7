"""Benchmark: Cinder volume GETs per minute while 1, 10 and 100 browsers watch the same moving volume, with one
gunicorn worker or several.

Starts the demo cloud and volpanel under gunicorn with the uvicorn worker (poll interval 1 s), puts `data-01`
into `extending` with the demo admin's os-reset_status (it stays there: no audit row, only viewers keep a
watcher), opens N SSE streams on it and counts the GETs of that volume the demo cloud served during the window.
With --flip the status alternates between `extending` and `retyping` during the window and every viewer must
see each change; with --workers 2 the streams spread over both worker processes (the kernel hands out the
connections), each worker polling for its own viewers. Loopback only, bounded in time.

    .venv/bin/python bench/stream_polls.py [--window 15] [--viewers 1,10,100] [--workers 1] [--flip 0]
"""

from __future__ import annotations

import argparse
import itertools
import threading
import time

from common import VOLUME_GET, Admin, StreamStack, Viewers, cookie_header, login, proc_status, raise_nofile, uptime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--window", type=float, default=15.0, help="seconds counted per viewer count")
    parser.add_argument("--viewers", default="1,10,100")
    parser.add_argument("--interval", type=float, default=1.0, help="VOLPANEL_POLL_INTERVAL")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn worker processes")
    parser.add_argument("--flip", type=float, default=0.0, help="seconds between status changes (0: none)")
    args = parser.parse_args()
    raise_nofile()
    print(f"workers={args.workers}; {uptime()}", flush=True)
    with StreamStack(workers=args.workers, interval=args.interval) as stack:
        admin = Admin(stack.demo)
        vid = stack.volumes()["data-01"]
        admin.set_status(vid, "extending")
        cookies = [cookie_header(login(stack.base)) for _ in range(10)]
        time.sleep(2)  # every worker booted
        workers = stack.worker_pids()
        results = {}
        for n in (int(v) for v in args.viewers.split(",")):
            fds = {pid: proc_status(pid)["fds"] for pid in workers}
            viewers = Viewers(stack.web_port, f"/volumes/{vid}/stream/", cookies, n)
            while viewers.stats.opened + len(viewers.stats.errors) < n:
                time.sleep(0.1)
            time.sleep(2)  # every stream sent its first state
            per_worker = [proc_status(pid)["fds"] - fds[pid] for pid in workers]
            stack.cloud_requests(clear=True)
            start = time.time()
            changes: list[float] = []
            stop = threading.Event()

            def flipper(stop: threading.Event, changes: list[float]) -> None:
                for status in itertools.cycle(["retyping", "extending"]):
                    if stop.wait(args.flip):
                        return
                    changes.append(admin.set_status(vid, status)[1])

            flips = threading.Thread(target=flipper, args=(stop, changes))
            if args.flip:
                flips.start()
            time.sleep(args.window)
            served = stack.cloud_requests()
            stop.set()
            if args.flip:
                flips.join()
            deadline = time.monotonic() + 10  # the last change reaches its viewers
            while True:
                got = [len([at for at, _ in mine if at >= start]) for mine in viewers.arrivals]
                if min(got) >= len(changes) or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            opened, errors = viewers.stats.opened, len(viewers.stats.errors)
            viewers.close()
            gets = served.get(VOLUME_GET, 0)
            other = sum(c for k, c in served.items() if k != VOLUME_GET and not k.startswith("POST"))
            results[n] = gets * 60 / args.window
            print(f"viewers={n:4d}  volume GETs/min={results[n]:6.1f}  other cloud GETs in window={other}  "
                  f"streams open={opened} errors={errors}  new fds per worker={per_worker}"
                  + (f"  status changes={len(changes)}, status events per viewer min={min(got)} max={max(got)}"
                     if args.flip else ""), flush=True)
        if 1 in results and 100 in results and results[1]:
            print(f"ratio 100 viewers / 1 viewer = {results[100] / results[1]:.2f} (goal <= 1.2 for one worker; with "
                  f"{args.workers} workers each worker holding a viewer polls, so up to {args.workers}x)")
    print(uptime())


if __name__ == "__main__":
    main()
