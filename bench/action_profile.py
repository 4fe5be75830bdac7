"""Benchmark: where the web CPU of one audited action goes, without the ASGI server around it.

Starts the demo cloud with delays off, sets Django up in this process on a fresh SQLite file, logs in as alice
with Django's test client and posts the retype form of `data-01` (htmx, a fresh idempotency key each time) back
and forth between two types. Prints the CPU time per action of this whole process (the watcher threads and
the fetch pool included). For the breakdown, run it under py-spy (a sampling profiler from PyPI, not in
requirements.txt) and give the samples back to it:

    .venv/bin/python bench/action_profile.py [--actions 300]
    .venv/bin/pip install py-spy
    .venv/bin/py-spy record --gil -r 200 -f raw -o /tmp/action.txt -- .venv/bin/python bench/action_profile.py
    .venv/bin/python bench/action_profile.py --breakdown /tmp/action.txt

`--gil` samples only the thread holding Python's lock, so the shares are of CPU spent in Python code.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import requests

from stack import PY, ROOT, load, start_demo_cloud

# The first of these a sample's stack contains names its part (order matters: the watcher's cloud calls are
# the watcher's, an audit write's queries are the audit's).
PARTS = [
    ("the watcher: its volume GETs and the settling write", ("Watch.run",)),
    ("cloud calls, client side (keystoneauth and requests)", ("CatalogAdapter.request",)),
    ("audit writes (row and chain events)", ("AuditEntry.save", "AuditEntry.advance")),
    ("the idempotency key lookup", ("earlier_attempt",)),
    ("the history query", ("history (volpanel/volumes/selectors.py",)),
    ("the answer's render", ("render_volume",)),
    ("the session read and credentials", ("credentials (volpanel/accounts/auth.py", "SessionStore")),
]


def breakdown(path: Path) -> None:
    """Shares of py-spy's raw samples (one `frame;frame;... count` line per stack) taken inside the actions."""
    shares: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "one_action (" not in stack and "Watch.run" not in stack and "_WorkItem.run" not in stack:
            continue  # start-up, migrations, login: not part of an action
        part = next((name for name, keys in PARTS if any(key in stack for key in keys)),
                    "the rest: request and form parsing, middleware, the view")
        shares[part] += int(count)
    total = sum(shares.values())
    print(f"{total} samples inside the actions")
    for part, count in shares.most_common():
        print(f"  {count / total * 100:5.1f} %  {part}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--actions", type=int, default=300)
    parser.add_argument("--breakdown", type=Path, help="a py-spy raw file of an earlier run: print its shares")
    args = parser.parse_args()
    if args.breakdown:
        breakdown(args.breakdown)
        return

    tmp = Path(tempfile.mkdtemp(prefix="volpanel-action-profile-"))
    demo, port = start_demo_cloud(0.0)
    os.environ.update({"DJANGO_SETTINGS_MODULE": "volpanel.settings", "DATABASE_URL": f"sqlite:///{tmp}/db.sqlite3",
                       "DEMOCLOUD_PORT": str(port), "VOLPANEL_LOG_LEVEL": "WARNING",
                       # One session posting as fast as it can: lift its cloud budget, as stack.running does.
                       "VOLPANEL_CLOUD_RATE": "100000", "VOLPANEL_CLOUD_BURST": "100000"})
    os.environ.pop("OS_AUTH_URL", None)
    os.environ.pop("OS_CLOUD", None)
    try:
        subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
        run(port, args.actions)
    finally:
        demo.terminate()
        demo.wait(20)


def run(port: int, actions: int) -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.test import Client

    print(f"demo cloud, delays off; in-process Django, SQLite — {load()}")
    client = Client(SERVER_NAME="127.0.0.1")
    login = client.post("/login/", {"username": "alice", "password": "demo", "project": "demo"})
    assert login.status_code == 302, login.status_code
    state = requests.get(f"http://127.0.0.1:{port}/_demo/state", timeout=10).json()
    volume = next(v for v in state["volumes"].values() if v["name"] == "data-01")
    current = {"type": "default"}

    def one_action() -> bool:
        wanted = "gold" if current["type"] == "default" else "default"
        answer = client.post(f"/volumes/{volume['id']}/retype/",
                             {"new_type": wanted, "migration_policy": "never", "idempotency_key": uuid.uuid4().hex},
                             HTTP_HX_REQUEST="true")
        if "accepted by the cloud" not in answer.content.decode():
            time.sleep(0.05)  # the last retype still settling: try again
            return False
        current["type"] = wanted
        return True

    for _ in range(20):  # warm-up: memos, templates, connections
        one_action()
    time.sleep(0.5)
    cpu, wall = time.process_time(), time.perf_counter()
    accepted = sum(one_action() for _ in range(actions))
    time.sleep(1.0)  # the watchers settle the last rows
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall - 1.0
    print(f"{accepted} of {actions} posts accepted; CPU per post {cpu / actions * 1000:.1f} ms "
          f"(this process, every thread), wall time per post {wall / actions * 1000:.1f} ms — {load()}")


if __name__ == "__main__":
    main()
