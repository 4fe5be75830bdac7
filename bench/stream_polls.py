"""Benchmark: Cinder volume GETs per minute while 1, 10 and 100 browsers watch the same moving volume.

Starts the demo cloud (a long extend delay keeps the volume `extending`) and volpanel under gunicorn with the
uvicorn worker, opens N Server-Sent-Event streams on the volume, and counts the GETs of that volume the demo
cloud served during the window. Prints one line per N and the 100/1 ratio. Loopback only, bounded in time.

    .venv/bin/python bench/stream_polls.py [--window 20] [--viewers 1,10,100]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} never answered")


def login(base: str) -> requests.Session:
    s = requests.Session()
    s.get(f"{base}/login/")
    r = s.post(f"{base}/login/", data={"username": "alice", "password": "demo", "project": "demo",
                                       "csrfmiddlewaretoken": s.cookies["csrftoken"]},
               headers={"Referer": f"{base}/login/"}, allow_redirects=False)
    assert r.status_code == 302, r.text[:300]
    return s


def watch(session: requests.Session, url: str, stop: threading.Event, events: list[int]) -> None:
    with session.get(url, stream=True, timeout=(5, 60)) as response:
        for line in response.iter_lines():
            if stop.is_set():
                return
            if line.startswith(b"event: status"):
                events.append(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--window", type=float, default=20.0, help="seconds counted per viewer count")
    parser.add_argument("--viewers", default="1,10,100")
    parser.add_argument("--interval", default="1.0", help="VOLPANEL_POLL_INTERVAL")
    args = parser.parse_args()
    counts = [int(n) for n in args.viewers.split(",")]

    tmp = Path(tempfile.mkdtemp(prefix="volpanel-bench-"))
    demo_port, web_port = free_port(), free_port()
    env = {**os.environ, "DEMOCLOUD_PORT": str(demo_port), "DATABASE_URL": f"sqlite:///{tmp}/db.sqlite3",
           "VOLPANEL_POLL_INTERVAL": args.interval}
    env.pop("OS_AUTH_URL", None)
    procs = [subprocess.Popen([PY, "-m", "volpanel.democloud", "--port", str(demo_port), "--delay", "600"],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        procs.append(subprocess.Popen(
            [str(Path(PY).parent / "gunicorn"), "volpanel.asgi:application", "-c", "volpanel/gunicorn.conf.py",
             "--bind", f"127.0.0.1:{web_port}", "--access-logfile", "/dev/null"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        demo, base = f"http://127.0.0.1:{demo_port}", f"http://127.0.0.1:{web_port}"
        wait_http(f"{demo}/_demo/state")
        wait_http(f"{base}/healthz")
        session = login(base)
        state = requests.get(f"{demo}/_demo/state", timeout=5).json()
        volume = next(v for v in state["volumes"].values() if v["name"] == "data-01")
        page = session.get(f"{base}/volumes/{volume['id']}/").text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        r = session.post(f"{base}/volumes/{volume['id']}/extend/", data={"new_size": "11", "csrfmiddlewaretoken": token},
                         headers={"HX-Request": "true", "Referer": base}, timeout=30)
        assert "accepted by the cloud" in r.text, r.text[:500]
        key = f"GET /volume/v3/{{project_id}}/volumes/{{volume_id}}"
        results = {}
        for n in counts:
            stop = threading.Event()
            events: list[int] = []
            viewers = [login(base) for _ in range(n)] if n <= 10 else [session] * n
            threads = [threading.Thread(target=watch, args=(v, f"{base}/volumes/{volume['id']}/stream/", stop, events),
                                        daemon=True) for v in viewers]
            for t in threads:
                t.start()
            time.sleep(2)  # every stream connected and sent its first state
            requests.delete(f"{demo}/_demo/requests", timeout=5)
            time.sleep(args.window)
            served = requests.get(f"{demo}/_demo/requests", timeout=5).json()["counts"]
            gets = sum(c for k, c in served.items() if k == key)
            other = sum(served.values()) - gets
            stop.set()
            results[n] = gets * 60 / args.window
            print(f"viewers={n:4d}  volume GETs/min={results[n]:6.1f}  other cloud calls in window={other}  "
                  f"streams opened={len(threads)}  status events received={len(events)}", flush=True)
        if 1 in results and 100 in results and results[1]:
            print(f"ratio 100 viewers / 1 viewer = {results[100] / results[1]:.2f} (goal <= 1.2)")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(20)


if __name__ == "__main__":
    main()
