"""Benchmark: volume actions per second through the whole stack, every one audited.

Starts the demo cloud with delays off and volpanel under gunicorn with the ASGI worker (`--workers` processes,
one per core by default), logs in, and has one client thread per volume post the retype form (htmx, a fresh
idempotency key and the CSRF token on every post) back and forth between two types for `--seconds`. Then it
waits until every audit row has its final outcome, counts the rows and chain events in the database, runs
`manage.py verify_audit`, and prints accepted actions per second (goal ≥ 100/s).

    .venv/bin/python bench/actions_rate.py [--seconds 20] [--workers 2] [--volumes 8]
    .venv/bin/python bench/actions_rate.py --tenants 24    # 24 users, each retyping a volume of their own project
    createdb -h 127.0.0.1 -U postgres actions_bench    # once; the bench empties its audit tables first
    .venv/bin/python bench/actions_rate.py --database-url postgresql://postgres@127.0.0.1:5432/actions_bench
"""

from __future__ import annotations

import argparse
import os
import subprocess
import threading
import time
import uuid

import requests

from stack import PY, ROOT, cpu_seconds, csrf_token, database, endpoint, keystone_token, load, running

TYPES = ("default", "gold")


def make_volumes(auth_url: str, count: int) -> list[tuple[str, str]]:
    """(volume id, its type) for `count` available volumes of alice's: the seeded ones, then new 1 GiB ones."""
    token, body = keystone_token(auth_url, "alice", "demo", "demo")
    cinder = endpoint(body, ("block-storage", "volumev3"))
    s = requests.Session()
    s.headers.update({"X-Auth-Token": token, "OpenStack-API-Version": "volume 3.71"})
    for n in range(count):
        s.post(f"{cinder}/volumes", json={"volume": {"name": f"bench-{n}", "size": 1}}, timeout=30)
    volumes = s.get(f"{cinder}/volumes/detail", timeout=30).json()["volumes"]
    return [(v["id"], v["volume_type"]) for v in volumes
            if v["status"] == "available" and v["volume_type"] in TYPES][:count]


def worker(base: str, browser: requests.Session, volume_id: str, current: str, stop: threading.Event,
           tally: dict[str, int], lock: threading.Lock) -> None:
    token = csrf_token(browser.get(f"{base}/volumes/{volume_id}/", timeout=30).text)
    while not stop.is_set():
        wanted = TYPES[1] if current == TYPES[0] else TYPES[0]
        r = browser.post(f"{base}/volumes/{volume_id}/retype/",
                         data={"new_type": wanted, "migration_policy": "never", "idempotency_key": uuid.uuid4().hex,
                               "csrfmiddlewaretoken": token},
                         headers={"HX-Request": "true", "Referer": f"{base}/volumes/{volume_id}/"}, timeout=60)
        accepted = r.status_code == 200 and "accepted by the cloud" in r.text
        with lock:
            tally["posts"] += 1
            tally["accepted" if accepted else "other"] += 1
        if accepted:
            current = wanted
            continue
        with lock:
            tally.setdefault("samples", []).append(f"{r.status_code} " + (
                r.text.split('data-testid="announcement"', 1)[-1][:300] if r.status_code == 200 else r.text[:300]))
        if 'data-testid="volume-type">' in r.text:
            # Refused (still retyping?): start again from the type the page shows.
            current = r.text.split('data-testid="volume-type">', 1)[1].split("<", 1)[0]


COUNTS = ("SELECT COUNT(*) FROM volpanel_auditentry",
          "SELECT COUNT(*) FROM volpanel_auditentry WHERE outcome IN ('pending', 'accepted')",
          "SELECT COUNT(*) FROM volpanel_auditevent")


def audit_counts(database_url: str) -> tuple[int, int, int]:
    """Audit rows, rows still open, chain events."""
    with database(database_url) as conn:
        return tuple(conn.execute(q).fetchone()[0] for q in COUNTS)  # type: ignore[return-value]


def empty_audit_tables(database_url: str) -> None:
    """A PostgreSQL database reused between runs starts each run with an empty trail (a fresh chain)."""
    with database(database_url) as conn:
        exists = conn.execute("SELECT to_regclass('volpanel_auditevent')").fetchone()
        if exists and exists[0]:
            conn.execute("TRUNCATE volpanel_auditevent, volpanel_auditentry, volpanel_auditchainhead, "
                         "django_session")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", default="2", help="gunicorn worker processes (WEB_CONCURRENCY)")
    parser.add_argument("--volumes", type=int, default=8, help="client threads, one volume each (alice's)")
    parser.add_argument("--tenants", type=int, default=0,
                        help="instead: this many users (the demo cloud's tenantNN), one thread and volume each")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    args = parser.parse_args()

    env = {"WEB_CONCURRENCY": args.workers}
    if args.database_url:
        empty_audit_tables(args.database_url)
        env["DATABASE_URL"] = args.database_url
    print(f"demo cloud, delays off; gunicorn ASGI workers={args.workers}; "
          f"{args.database_url.split(':', 1)[0] or 'sqlite'} — {load()}")
    with running(demo_delay=0.0, env=env) as stack:
        database_url = args.database_url or f"sqlite:///{stack.db_path}"
        assert stack.demo is not None
        if args.tenants:
            # Many people at once, as a busy cloud has them: user tenantNN in project tenantNN, volume tenantNN-data.
            requests.post(f"{stack.demo}/_demo/config", json={"tenants": args.tenants}, timeout=30).raise_for_status()
            names = [f"tenant{i:02d}" for i in range(1, args.tenants + 1)]
            volumes = [(stack.demo_volume_id(f"{name}-data"), "default") for name in names]
            browsers = [stack.login(name, "demo", name) for name in names]
        else:
            volumes = make_volumes(f"{stack.demo}/identity/v3", args.volumes)
            browsers = [stack.login() for _ in volumes]
        stop, lock = threading.Event(), threading.Lock()
        tally = {"posts": 0, "accepted": 0, "other": 0}
        threads = [threading.Thread(target=worker, args=(stack.base, b, vid, vtype, stop, tally, lock), daemon=True)
                   for b, (vid, vtype) in zip(browsers, volumes, strict=True)]
        for t in threads:
            t.start()
        time.sleep(2)  # every thread past its first page load
        workers = stack.worker_pids()
        with lock:
            start_accepted, start = tally["accepted"], time.perf_counter()
            cpu_before = ([cpu_seconds(p) for p in workers], cpu_seconds(stack.demo_pid), time.process_time())
        time.sleep(args.seconds)
        with lock:
            end_accepted, elapsed = tally["accepted"], time.perf_counter() - start
            cpu_after = ([cpu_seconds(p) for p in workers], cpu_seconds(stack.demo_pid), time.process_time())
        stop.set()
        for t in threads:
            t.join(60)
        deadline = time.monotonic() + 60
        while (counts := audit_counts(database_url))[1] and time.monotonic() < deadline:
            time.sleep(0.5)
        rows, open_rows, events = counts
        verify = subprocess.run([PY, "manage.py", "verify_audit"], cwd=ROOT, capture_output=True, text=True,
                                env={**os.environ, "DATABASE_URL": database_url,
                                     "DEMOCLOUD_PORT": stack.demo.rsplit(":", 1)[1]})
    done = end_accepted - start_accepted
    rate = done / elapsed
    web_cpu = sum(cpu_after[0]) - sum(cpu_before[0])

    def per(seconds: float) -> str:
        return f"{seconds / max(done, 1) * 1000:.1f} ms"

    print(f"CPU per accepted action: web workers {per(web_cpu)}, demo cloud {per(cpu_after[1] - cpu_before[1])}, "
          f"this client {per(cpu_after[2] - cpu_before[2])}")
    for sample in sorted(set(tally.get("samples", [])))[:5]:  # type: ignore[call-overload]
        print("not accepted:", " ".join(sample.split()))
    print(f"posts={tally['posts']}  accepted={tally['accepted']}  not accepted={tally['other']}  "
          f"volumes={len(volumes)}" + (f" (one per user, {args.tenants} users)" if args.tenants else " (alice's)"))
    verify_said = (verify.stdout or verify.stderr).strip().splitlines()[-1] if (verify.stdout or verify.stderr) \
        else verify.returncode
    print(f"audit rows={rows}  still open={open_rows}  chain events={events}  verify_audit: {verify_said}")
    print(f"accepted actions per second over {elapsed:.1f} s: {rate:.1f} (goal >= 100/s) — {load()}")


if __name__ == "__main__":
    main()
