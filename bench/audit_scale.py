"""Benchmark: the admin audit page and the CSV export at 10⁶ audit rows, on SQLite and on PostgreSQL.

For each backend: a fresh database (a SQLite file; a PostgreSQL database named auditscale_<rows> on
127.0.0.1:5432, user postgres), `migrate`, `seed_audit N`, (VACUUM) ANALYZE; then, in a fresh process logged in as the
demo cloud's admin, server time of the audit page through Django's test client for several filters, free-text
search and deep pages (p50/p95), and the CSV export of ~N/10 rows and of all N rows (time, rows/s, RSS growth of
the process while streaming). Prints the figures; the test suite never asserts timings.

    .venv/bin/python bench/audit_scale.py [--rows 1000000] [--backends sqlite,postgresql] [--requests 20]
                                          [--reuse] [--no-export] [--workdir /tmp/auditscale]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the child processes import volpanel
PY = sys.executable
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432"


# --- the orchestrating process (no Django here: each database gets its own processes) ------------------
def run(args: list[str], env: dict[str, str], timeout: float = 3600) -> str:
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return result.stdout


def load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def start_democloud(port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen([PY, "-m", "volpanel.democloud", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "listening on" in line:
            return proc
    raise SystemExit("the demo cloud did not start")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(backend: str, rows: int, workdir: Path, reuse: bool, env: dict[str, str]) -> str:
    """The database URL, freshly migrated and seeded (or reused when asked and already seeded)."""
    if backend == "sqlite":
        path = workdir / f"auditscale_{rows}.sqlite3"
        url = f"sqlite:///{path}"
        fresh = not (reuse and path.exists())
        if fresh:
            for leftover in workdir.glob(f"{path.name}*"):
                leftover.unlink()
    else:
        import psycopg

        name = f"auditscale_{rows}"
        url = f"{PG_ADMIN_URL}/{name}"
        with psycopg.connect(f"{PG_ADMIN_URL}/postgres", autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            fresh = not (reuse and exists)
            if fresh:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                conn.execute(f'CREATE DATABASE "{name}"')
    env = {**env, "DATABASE_URL": url}
    started = time.monotonic()
    run([PY, "manage.py", "migrate", "-v0"], env)
    print(f"  migrate: {time.monotonic() - started:.1f} s", flush=True)
    if fresh:
        started = time.monotonic()
        out = run([PY, "manage.py", "seed_audit", str(rows), "--projects", "50", "--days", "365"], env)
        elapsed = time.monotonic() - started
        print(f"  {out.strip()} ({rows / elapsed:,.0f} rows/s; load {load()})", flush=True)
    else:
        print("  reused the seeded database", flush=True)
    started = time.monotonic()
    run([PY, __file__, "--child", "analyze"], env)
    print(f"  (VACUUM) ANALYZE: {time.monotonic() - started:.1f} s", flush=True)
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page scenario")
    parser.add_argument("--reuse", action="store_true", help="reuse a database already seeded by an earlier run")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/auditscale"))
    parser.add_argument("--no-export", action="store_true", help="measure the page only")
    parser.add_argument("--child", choices=["analyze", "pages", "export"], help=argparse.SUPPRESS)
    parser.add_argument("--fraction", type=float, default=1.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    args.workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "VOLPANEL_", "DATABASE_URL"))}
    env = {**clean, "DJANGO_SETTINGS_MODULE": "volpanel.settings", "DEMOCLOUD_PORT": str(port),
           "VOLPANEL_RECONCILE_INTERVAL": "0", "VOLPANEL_LOG_LEVEL": "WARNING"}
    democloud = start_democloud(port)
    try:
        print(f"audit_scale: {args.rows:,} rows; {os.cpu_count()} CPUs; load {load()}", flush=True)
        for backend in args.backends.split(","):
            print(f"\n== {backend} ==", flush=True)
            url = prepare(backend, args.rows, args.workdir, args.reuse, env)
            child_env = {**env, "DATABASE_URL": url}
            pages = json.loads(run([PY, __file__, "--child", "pages", "--requests", str(args.requests)],
                                   child_env).splitlines()[-1])
            print(f"  audit page (and its chart), server time over {args.requests} requests (load {load()}):")
            for name, figures in pages.items():
                if "skipped" in figures:
                    print(f"    {name:<45} skipped: {figures['skipped']}")
                    continue
                shown = "days drawn" if name.startswith("chart: ") else "rows shown"
                print(f"    {name:<45} p50 {figures['p50']:7.1f} ms  p95 {figures['p95']:7.1f} ms  "
                      f"({figures['rows']} {shown}, {figures['matching']:,} match)")
            for fraction in () if args.no_export else (0.1, 1.0):
                out = run([PY, __file__, "--child", "export", "--fraction", str(fraction)], child_env).splitlines()
                figures = json.loads(out[-1])
                if "skipped" in figures:
                    print(f"  CSV export: skipped: {figures['skipped']}")
                    break
                print(f"  CSV export of {figures['rows']:>9,} rows: {figures['seconds']:6.1f} s "
                      f"({figures['rows'] / figures['seconds']:,.0f} rows/s, {figures['mib']:,.0f} MiB), "
                      f"RSS growth while streaming {figures['rss_growth_mib']:.1f} MiB "
                      f"(peak {figures['rss_peak_mib']:.0f} MiB; load {load()})", flush=True)
    finally:
        democloud.terminate()
        democloud.wait(10)


# --- child processes: Django set up against one database --------------------------------------------------
def child(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.db import connection

    if args.child == "analyze":
        with connection.cursor() as cursor:
            # What autovacuum leaves on a live PostgreSQL table (statistics, and the visibility map that lets the
            # covering indexes answer index-only); SQLite gets its planner statistics.
            cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
        return
    from django.test import Client

    client = Client(SERVER_NAME="localhost")  # an allowed host, as a browser on the machine would send
    response = client.post("/login/", {"username": "admin", "password": "demo", "project": "admin", "domain": ""})
    assert response.status_code == 302, response.content[:500]
    if args.child == "pages":
        print(json.dumps(measure_pages(client, args.requests)))
    else:
        print(json.dumps(measure_export(client, args.fraction)))


def scenarios() -> dict[str, dict[str, str]]:
    """Filter combinations built from rows that exist, so each one finds something."""
    from datetime import timedelta

    from volpanel.audit.models import AuditEntry

    keyset = _keyset_module() is not None
    total = AuditEntry.objects.count()
    # A row from the middle of the trail picks the user, project, volume and request id to filter by.
    sample = AuditEntry.objects.order_by("id")[total // 2]
    newest = AuditEntry.objects.order_by("-requested_at").values_list("requested_at", flat=True)[0]
    week = {"since": (newest - timedelta(days=60)).date().isoformat(),
            "until": (newest - timedelta(days=53)).date().isoformat()}
    names = ({"user": "user", "project": "project", "volume": "volume"} if keyset
             else {"user": "actor_name", "project": "project_name", "volume": "volume_id"})
    found: dict[str, dict[str, str]] = {
        "newest, no filter": {},
        "user": {names["user"]: sample.actor_name},
        "project": {names["project"]: sample.project_name},
        "volume": {names["volume"]: sample.volume_id},
        "action + outcome (failed retype)": {"action": "os-retype", "outcome": "failed"},
        "one week": week,
        "user + action + one week": {names["user"]: sample.actor_name, "action": "os-extend", **week},
    }
    if keyset:
        prefix = sample.volume_name.split("-")[0]
        found["search: volume name part"] = {"q": f"{prefix}-01"}
        found["search: request id"] = {"q": sample.request_id or sample.volume_id}
        found["search: no match"] = {"q": "no-such-volume-name"}
    return found


def _keyset_module() -> Any:
    try:
        from volpanel.audit import query
    except ImportError:
        return None
    return query


def _matching(params: dict[str, str]) -> Any:
    from volpanel.audit.models import AuditEntry

    query = _keyset_module()
    if query is not None:
        return query.parse_filters(params).rows()
    rows = AuditEntry.objects.all()
    for name in ("actor_name", "project_name", "volume_id", "action", "outcome"):
        if params.get(name):
            rows = rows.filter(**{name: params[name]})
    if params.get("since"):
        rows = rows.filter(requested_at__date__gte=params["since"])
    if params.get("until"):
        rows = rows.filter(requested_at__date__lte=params["until"])
    return rows


def _deep(params: dict[str, str], depth: float) -> dict[str, str] | None:
    """The query string of a page `depth` of the way into the filter's rows (a keyset cursor, or a page
    number with the older page-number list)."""
    rows = _matching(params).order_by("-requested_at", "-id")
    count = rows.count()
    if count < 200:
        return None
    offset = int(count * depth)
    query = _keyset_module()
    if query is None:
        return {**params, "page": str(offset // 50 + 1)}
    at = rows.values_list("requested_at", "id")[offset]
    return {**params, "cursor": query.Cursor(at[0], at[1], "older").encode()}


def measure_pages(client: Any, requests: int) -> dict[str, Any]:
    from urllib.parse import urlencode

    from django.urls import NoReverseMatch, reverse

    url = reverse("audit_list")
    plan = scenarios()
    for name, depth, base in (("deep page (middle), no filter", 0.5, "newest, no filter"),
                              ("deep page (last), no filter", 0.999, "newest, no filter"),
                              ("deep page (middle), project", 0.5, "project")):
        deep = _deep(plan[base], depth)
        if deep is not None:
            plan[name] = deep
    targets = {name: (f"{url}?{urlencode(params)}", params, {}) for name, params in plan.items()}
    try:
        chart_url = reverse("audit_chart")
    except NoReverseMatch:  # older checkouts draw the chart inside the page
        chart_url = ""
    if chart_url:
        # The chart is its own request, made by the first page once its rows are shown (htmx).
        targets.update({f"chart: {name}": (f"{chart_url}?{urlencode(params)}", params, {"HTTP_HX_REQUEST": "true"})
                        for name, params in plan.items() if "cursor" not in params and "page" not in params})
    results: dict[str, Any] = {}
    for name, (target, params, headers) in targets.items():
        timings = []
        for i in range(requests + 2):
            started = time.perf_counter()
            response = client.get(target, **headers)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, (target, response.status_code, response.content[:300])
            if i >= 2:  # two warm-up requests: templates compiled, connection open
                timings.append(elapsed)
            if elapsed > 30_000 and i >= 2:
                break
        body = response.content.decode()
        # One per audit row, in the old and the new template; for the chart, one per day drawn.
        shown = body.count("<tr data-day=" if name.startswith("chart: ") else "<tr data-outcome=")
        timings.sort()
        results[name] = {"p50": statistics.median(timings),
                         "p95": timings[max(0, round(0.95 * len(timings)) - 1)],
                         "rows": shown, "matching": _matching({k: v for k, v in params.items()
                                                               if k not in ("cursor", "page")}).count(),
                         "query": urlencode(params)[:120]}
    return results


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure_export(client: Any, fraction: float) -> dict[str, Any]:
    from urllib.parse import urlencode

    from django.urls import NoReverseMatch, reverse

    from volpanel.audit.models import AuditEntry

    try:
        url = reverse("audit_export", args=["csv"])
    except NoReverseMatch:
        return {"skipped": "no audit_export URL on this checkout"}
    params: dict[str, str] = {}
    if fraction < 1:
        # The newest `fraction` of the trail, as an admin would ask for it: a time range.
        total = AuditEntry.objects.count()
        moment = AuditEntry.objects.order_by("-requested_at").values_list("requested_at", flat=True)[
            int(total * fraction)]
        params["since"] = moment.strftime("%Y-%m-%dT%H:%M")
    expected = _matching(params).count()
    peak = baseline = rss_mib()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.005):
            peak = max(peak, rss_mib())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    response = client.get(f"{url}?{urlencode(params)}")
    assert response.status_code == 200, response.content[:300]
    size = lines = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    peak = max(peak, rss_mib())
    rows = lines - 1  # the header line
    if rows != expected:
        # Quoted newlines inside a field would make lines differ from rows; say so rather than guess.
        print(f"note: {lines} lines for {expected} matching rows", file=sys.stderr)
    return {"rows": expected, "seconds": elapsed, "mib": size / 2**20, "rss_growth_mib": peak - baseline,
            "rss_peak_mib": peak, "query": urlencode(params)}


if __name__ == "__main__":
    main()
