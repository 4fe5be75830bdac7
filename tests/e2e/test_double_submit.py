"""Concurrent identical posts against the live server (gunicorn, file SQLite): exactly one Cinder call."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import requests

from tests.e2e.conftest import LiveServer


def test_it_calls_cinder_once_for_eight_simultaneous_posts_of_one_form(demo: Any, live_volpanel: LiveServer) -> None:
    base = live_volpanel.url
    session = requests.Session()
    session.get(f"{base}/login/")
    session.post(f"{base}/login/", data={"username": "alice", "password": "demo", "project": "demo",
                                         "csrfmiddlewaretoken": session.cookies["csrftoken"]},
                 headers={"Referer": base}, allow_redirects=False)
    vid = demo.volume("scratch")["id"]
    page = session.get(f"{base}/volumes/{vid}/").text
    form = re.search(r'action="/volumes/[^/]+/extend/".*?</form>', page, re.S).group(0)
    data = dict(re.findall(r'name="(csrfmiddlewaretoken|idempotency_key)" value="([^"]+)"', form))
    data["new_size"] = "2"
    before = {r["uuid"] for r in live_volpanel.audit_rows()}
    requests.delete(f"{demo.base}/_demo/requests", timeout=5)
    start = threading.Barrier(8)
    answers: list[str] = []

    def post() -> None:
        start.wait()
        r = session.post(f"{base}/volumes/{vid}/extend/", data=data, headers={"HX-Request": "true", "Referer": base},
                         timeout=30)
        answers.append(f"{r.status_code} {r.text}")

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    counts = requests.get(f"{demo.base}/_demo/requests", timeout=5).json()["counts"]
    actions = sum(n for key, n in counts.items() if key.startswith("POST") and key.endswith("/action"))
    assert actions == 1, counts
    new_rows = [r for r in live_volpanel.audit_rows() if r["uuid"] not in before]
    assert len(new_rows) == 1 and new_rows[0]["action"] == "os-extend"
    assert all(a.startswith("200 ") for a in answers), [a[:200] for a in answers]
    assert sum("accepted by the cloud" in a for a in answers) == 1
    assert sum("was already submitted from this form" in a for a in answers) == 7
    deadline = time.monotonic() + 20
    while live_volpanel.audit_rows()[-1]["outcome"] != "succeeded" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert live_volpanel.audit_rows()[-1]["outcome"] == "succeeded"
