"""Benchmark: from a status change in the cloud to the event at the browser, with 1 and with many viewers.

Starts the demo cloud and volpanel (one gunicorn worker, uvicorn worker, poll interval 1 s), puts `data-01` into
`extending` with the demo admin's os-reset_status and opens V streams on it. Each sample waits a random time (so
changes fall anywhere in the poll cycle), flips the status between `extending` and `retyping` — the change is
made between the two timestamps around that call — and times the event's arrival at each viewer (loopback, so
arrival is the event leaving the server plus well under a millisecond). Prints p50/p95/max per viewer count.

    .venv/bin/python bench/stream_latency.py [--samples 40] [--viewers 1,250] [--interval 1.0] [--workers 1]
        [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import itertools
import random
import time

from common import Admin, StreamStack, Viewers, cookie_header, login, percentile, raise_nofile, uptime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=40, help="status changes timed per viewer count")
    parser.add_argument("--viewers", default="1,250")
    parser.add_argument("--interval", type=float, default=1.0, help="VOLPANEL_POLL_INTERVAL")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn worker processes")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    args = parser.parse_args()
    raise_nofile()
    print(uptime(), flush=True)
    with StreamStack(workers=args.workers, interval=args.interval, database_url=args.database_url) as stack:
        admin = Admin(stack.demo)
        vid = stack.volumes()["data-01"]
        admin.set_status(vid, "extending")
        cookie = cookie_header(login(stack.base))
        statuses = itertools.cycle(["retyping", "extending"])
        for count in (int(n) for n in args.viewers.split(",")):
            viewers = Viewers(stack.web_port, f"/volumes/{vid}/stream/", [cookie], count)
            while viewers.stats.opened < count:
                time.sleep(0.1)
            time.sleep(1.5)
            first, last, spread = [], [], []
            for _ in range(args.samples):
                time.sleep(random.uniform(0.2, 0.2 + args.interval))
                status = next(statuses)
                before, after = admin.set_status(vid, status)
                arrived = viewers.first_after(before, status)
                first.append(min(arrived) - after)
                last.append(max(arrived) - after)
                spread.append(after - before)
            viewers.close()
            goal = args.interval + 0.2
            print(f"viewers={count:4d} samples={args.samples}: change -> event at the first viewer "
                  f"p50 {percentile(first, 50) * 1000:.0f} ms, p95 {percentile(first, 95) * 1000:.0f} ms, "
                  f"max {max(first) * 1000:.0f} ms; at the last viewer p50 {percentile(last, 50) * 1000:.0f} ms, "
                  f"p95 {percentile(last, 95) * 1000:.0f} ms, max {max(last) * 1000:.0f} ms "
                  f"(goal <= {goal * 1000:.0f} ms; the change itself is known to within "
                  f"{max(spread) * 1000:.0f} ms; stream errors {len(viewers.stats.errors)})", flush=True)
    print(uptime())


if __name__ == "__main__":
    main()
