"""Benchmark: volume detail and list page times against the raw Cinder GETs they are built on, in one run.

Starts the demo cloud with delays off and volpanel under gunicorn (the ASGI worker of volpanel/gunicorn.conf.py),
logs in as alice, and alternates, over warm keep-alive connections from this client:
  raw `GET volumes/{id}` (same token, same microversion as volpanel) / the volume detail page,
  raw `GET volumes/detail` / the volume list page.
Prints p50/p95 of each and the page/raw ratios (issue 18's goals: detail ≤ 1.5×, list ≤ 1.3×). In steady state the
detail page waits for the volume GET alone (its snapshots, the project's limits and servers come from memos a
browser's stream refreshes; selectors.SIDE_TTL); after the pages, the bench times the three GETs a full load
makes at once (the volume, its snapshots, the project's limits), for comparison. With
`--realcloud yes` (or when the rig's env file exists: REALCLOUD_ENV, else .cache/realcloud/env) it runs the same
against the real Keystone + Cinder of tests/realcloud.

    .venv/bin/python bench/page_timing.py [--rounds 300] [--realcloud auto|yes|no]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from stack import ROOT, Stack, endpoint, keystone_token, load, percentile, running, summary

MICROVERSION = "volume 3.71"  # what volpanel reads with (cinder.CLIENT_MAX_MICROVERSION; both clouds allow it)
# The rig's env file: REALCLOUD_ENV names it (as for the realcloud tests), else this tree's own .cache.
REALCLOUD_ENV = Path(os.environ.get("REALCLOUD_ENV") or ROOT / ".cache" / "realcloud" / "env")


def timed(fn: Callable[[], requests.Response]) -> float:
    start = time.perf_counter()
    response = fn()
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise RuntimeError(f"{response.request.method} {response.url} answered {response.status_code}")
    return elapsed


def compare(name: str, raw: Callable[[], requests.Response], page: Callable[[], requests.Response],
            rounds: int, goal: float, needs: dict[str, Callable[[], requests.Response]] | None = None) -> None:
    """Alternate the raw GET and the page; then, given `needs`, time the raw GETs a full load is built on, in a pass
    of their own (interleaved with the pages, their extra Cinder calls slowed the next page by a few ms)."""
    for _ in range(max(10, rounds // 10)):  # warm-up: connections, memos, template cache
        raw(), page()
    raw_t, page_t = [], []
    for _ in range(rounds):
        raw_t.append(timed(raw))
        page_t.append(timed(page))
    p50 = percentile(page_t, 50) / percentile(raw_t, 50)
    p95 = percentile(page_t, 95) / percentile(raw_t, 95)
    print(f"  raw Cinder  {summary(raw_t)}")
    print(f"  {name:<11} {summary(page_t)}")
    print(f"  ratio page/raw: p50 {p50:.2f}x  p95 {p95:.2f}x  (goal <= {goal}x)", flush=True)
    if not needs:
        return
    pool = ThreadPoolExecutor(len(needs))

    def all_needs() -> float:
        start = time.perf_counter()
        for elapsed in pool.map(lambda call: timed(call), needs.values()):
            assert elapsed >= 0
        return time.perf_counter() - start

    all_needs()
    needs_t: list[float] = []
    each: dict[str, list[float]] = {key: [] for key in needs}
    for _ in range(rounds):
        needs_t.append(all_needs())
        for key, call in needs.items():
            each[key].append(timed(call))
    for key, times in each.items():
        print(f"  raw {key:<10} {summary(times)}  (alone)")
    print(f"  raw {' + '.join(needs)} at once  {summary(needs_t)}")
    print(f"  ratio page/(a full load's three GETs, at once): "
          f"p50 {percentile(page_t, 50) / percentile(needs_t, 50):.2f}x  "
          f"p95 {percentile(page_t, 95) / percentile(needs_t, 95):.2f}x  (for comparison)", flush=True)


def run(stack: Stack, auth_url: str, user: str, password: str, project: str, volume_id: str,
        rounds: int) -> None:
    browser = stack.login(user, password, project)
    token, body = keystone_token(auth_url, user, password, project)
    cinder = endpoint(body, ("block-storage", "volumev3", "volume"))
    raw = requests.Session()
    raw.headers.update({"X-Auth-Token": token, "OpenStack-API-Version": MICROVERSION, "Accept": "application/json"})
    # One keep-alive connection per call made at once, as volpanel's per-token session keeps them.
    sessions = {key: requests.Session() for key in ("volume", "snapshots", "limits")}
    for session in sessions.values():
        session.headers.update(raw.headers)
    needs = {
        "volume": lambda: sessions["volume"].get(f"{cinder}/volumes/{volume_id}", timeout=30),
        "snapshots": lambda: sessions["snapshots"].get(f"{cinder}/snapshots/detail", params={"volume_id": volume_id},
                                                       headers={"OpenStack-API-Version": "volume 3.0"}, timeout=30),
        "limits": lambda: sessions["limits"].get(f"{cinder}/limits", timeout=30),
    }
    print(f"volume detail ({volume_id}):")
    compare("detail page", lambda: raw.get(f"{cinder}/volumes/{volume_id}", timeout=30),
            lambda: browser.get(f"{stack.base}/volumes/{volume_id}/", timeout=30), rounds, 1.5, needs)
    print("volume list:")
    compare("list page", lambda: raw.get(f"{cinder}/volumes/detail", timeout=30),
            lambda: browser.get(f"{stack.base}/volumes/", timeout=30), rounds, 1.3)


def read_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip().removeprefix("export ")
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key] = value.strip().strip("'\"")
    return values


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--realcloud", choices=("auto", "yes", "no"), default="auto")
    args = parser.parse_args()

    print(f"demo cloud, delays off — {load()}")
    with running(demo_delay=0.0) as stack:
        assert stack.demo is not None
        run(stack, f"{stack.demo}/identity/v3", "alice", "demo", "demo", stack.demo_volume_id("data-01"),
            args.rounds)
    if args.realcloud == "no" or (args.realcloud == "auto" and not REALCLOUD_ENV.exists()):
        print(f"real cloud: skipped (no {REALCLOUD_ENV}; start it with `bash tests/realcloud/up.sh`)")
        return
    env = read_env(REALCLOUD_ENV)
    print(f"real Keystone + Cinder at {env['OS_AUTH_URL']} — {load()}")
    volpanel_env = {k: v for k, v in env.items() if k in ("OS_AUTH_URL", "OS_REGION_NAME", "OS_INTERFACE")}
    with running(demo_delay=None, env={**volpanel_env, "DJANGO_SECRET_KEY": "bench-only",
                                       "VOLPANEL_SNAPSHOT_UPLOAD": "false"}) as stack:
        user, password, project = env["OS_USERNAME"], env["OS_PASSWORD"], env["OS_PROJECT_NAME"]
        token, body = keystone_token(env["OS_AUTH_URL"], user, password, project)
        cinder = endpoint(body, ("block-storage", "volumev3", "volume"))
        run(stack, env["OS_AUTH_URL"], user, password, project, bench_volume(cinder, token), args.rounds)


def bench_volume(cinder: str, token: str) -> str:
    """A volume of the project to time: the first one there, or a new 1 GiB `page-timing` once available."""
    headers = {"X-Auth-Token": token}
    volumes = requests.get(f"{cinder}/volumes", headers=headers, timeout=30).json()["volumes"]
    if volumes:
        return str(volumes[0]["id"])
    created = requests.post(f"{cinder}/volumes", json={"volume": {"name": "page-timing", "size": 1}},
                            headers=headers, timeout=30)
    created.raise_for_status()
    volume_id = str(created.json()["volume"]["id"])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = requests.get(f"{cinder}/volumes/{volume_id}", headers=headers, timeout=30).json()["volume"]["status"]
        if status == "available":
            print(f"created volume page-timing ({volume_id}) on the real cloud", flush=True)
            return volume_id
        if status.startswith("error"):
            raise SystemExit(f"the real cloud could not create a volume to time ({status})")
        time.sleep(1)
    raise SystemExit("the real cloud's new volume did not become available within 2 minutes")


if __name__ == "__main__":
    main()
