"""Benchmark: resident memory of one volpanel web process (gunicorn's ASGI worker) after warm-up.

Starts the demo cloud with delays off and volpanel under gunicorn with one worker, then reads the worker's
VmRSS (and its PSS, which shares library pages fairly) from /proc: right after start, after a warm-up that
uses every page, fragment and action form (several users, every volume, an action of each kind that settles),
and after `--requests` more page views, to show whether it keeps growing. Goal ≤ 150 MiB.

    .venv/bin/python bench/memory.py [--requests 600]
"""

from __future__ import annotations

import argparse
import time
import uuid
from pathlib import Path

import requests

from stack import csrf_token, load, running


def memory(pid: int) -> str:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    rollup = Path(f"/proc/{pid}/smaps_rollup")
    pss = None
    if rollup.exists():
        pss = next((int(line.split()[1]) for line in rollup.read_text().splitlines() if line.startswith("Pss:")),
                   None)
    text = f"RSS {rss / 1024:6.1f} MiB"
    return text + (f"  PSS {pss / 1024:6.1f} MiB" if pss is not None else "")


def warm(base: str, browser: requests.Session, volume_ids: list[str]) -> int:
    count = 0
    for path in ["/volumes/", *[f"/volumes/{v}/" for v in volume_ids]]:
        assert browser.get(base + path, timeout=30).status_code == 200
        count += 1
    for v in volume_ids:
        for partial in ("live", "status", "actions", "history"):
            browser.get(f"{base}/volumes/{v}/?partial={partial}", headers={"HX-Request": "true"}, timeout=30)
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=600, help="page views after the warm-up")
    args = parser.parse_args()
    print(f"demo cloud, delays off; one gunicorn ASGI worker — {load()}")
    with running(demo_delay=0.0, env={"WEB_CONCURRENCY": "1"}) as stack:
        pid = stack.web_pid
        print(f"after start:             {memory(pid)}")
        state = requests.get(f"{stack.demo}/_demo/state", timeout=5).json()
        by_project: dict[str, list[str]] = {}
        for v in state["volumes"].values():
            by_project.setdefault(v["project_id"], []).append(v["id"])
        users = [("alice", "demo"), ("bob", "other"), ("carol", "demo"), ("admin", "admin")]
        browsers = []
        served = 0
        for user, project in users:
            browser = stack.login(user, "demo", project)
            browsers.append(browser)
            project_id = next(p for p, data in state["projects"].items() if data["name"] == project) \
                if "projects" in state else None
            served += warm(stack.base, browser, by_project.get(project_id or "", []))
        # One action of each kind that the seed allows on alice's volumes, each audited and followed to the end.
        alice = browsers[0]
        data01 = stack.demo_volume_id("data-01")
        page = alice.get(f"{stack.base}/volumes/{data01}/", timeout=30).text
        token = csrf_token(page)
        posts = [("extend", {"new_size": "11"}), ("retype", {"new_type": "gold", "migration_policy": "never"}),
                 ("upload", {"image_name": "bench-image", "disk_format": "qcow2", "container_format": "bare",
                             "visibility": "private"}),
                 ("attach_host", {"host_name": "bench-host", "mountpoint": "/dev/vdc", "mode": "rw"})]
        for action, data in posts:
            r = alice.post(f"{stack.base}/volumes/{data01}/{action}/",
                           data={**data, "idempotency_key": uuid.uuid4().hex, "csrfmiddlewaretoken": token},
                           headers={"HX-Request": "true", "Referer": stack.base}, timeout=60)
            served += 1
            time.sleep(0.5)  # let the watcher settle it before the next
            if "accepted by the cloud" not in r.text:
                raise SystemExit(f"{action} was not accepted: {r.status_code} {r.text[:300]}")
        time.sleep(2)
        print(f"after warm-up ({served} requests, {len(users)} users, 4 actions): {memory(pid)}")
        paths = ["/volumes/", f"/volumes/{data01}/", f"/volumes/{data01}/?partial=status"]
        for n in range(args.requests):
            browsers[n % len(browsers)].get(stack.base + paths[n % len(paths)], timeout=30)
        print(f"after {args.requests} more requests:     {memory(pid)}")
    print(f"goal: RSS <= 150 MiB — {load()}")


if __name__ == "__main__":
    main()
