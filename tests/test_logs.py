"""Structured logs: a request id on every response and every record written while serving it, as JSON lines in
production; a client cannot write arbitrary text into the logs through that id."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from volpanel import logs

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_it_gives_every_response_a_request_id_and_logs_one_access_line_with_it(
        client: Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="volpanel.access"):
        first = client.get("/healthz")
        second = client.get("/login/")
    ids = [first.headers["X-Request-Id"], second.headers["X-Request-Id"]]
    assert all(i.startswith("req-") and len(i) == 40 for i in ids) and ids[0] != ids[1]
    lines = [r for r in caplog.records if r.name == "volpanel.access"]
    assert [(r.request_id, r.method, r.path, r.status) for r in lines] == [
        (ids[0], "GET", "/healthz", 200), (ids[1], "GET", "/login/", 200)]
    assert all(r.duration_ms >= 0 for r in lines)


@pytest.mark.django_db
def test_it_keeps_a_proxys_request_id_and_replaces_anything_else(client: Client) -> None:
    nginx = "3f2a9c0e5b7d41e8a6c2f0b9d8e7a1c4"  # nginx's $request_id: 32 hex digits
    assert client.get("/healthz", HTTP_X_REQUEST_ID=nginx).headers["X-Request-Id"] == nginx
    for hostile in ("short", "evil\nlevel=ERROR fake", "a" * 65, '"}{"level":"CRITICAL'):
        answered = client.get("/healthz", HTTP_X_REQUEST_ID=hostile).headers["X-Request-Id"]
        assert answered.startswith("req-") and hostile not in answered


def test_it_writes_one_json_object_per_record_with_the_request_id() -> None:
    record = logging.LogRecord("volpanel.services", logging.WARNING, __file__, 1, "volume %s: %s", ("v1", 'a "b"\nc'),
                               None)
    token = logs.request_id.set("req-0000")
    try:
        logs.RequestIdFilter().filter(record)
    finally:
        logs.request_id.reset(token)
    line = logs.json_formatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert (data["level"], data["logger"], data["message"], data["request_id"]) == (
        "WARNING", "volpanel.services", 'volume v1: a "b"\nc', "req-0000")
    assert data["time"][:2] == "20"


def test_it_logs_json_outside_demo_mode_with_the_request_id() -> None:
    # A real process with production-like settings: what a log shipper would read from stderr.
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "DJANGO_", "VOLPANEL_", "DEMOCLOUD_"))}
    env = {**clean, "DJANGO_SETTINGS_MODULE": "volpanel.settings", "OS_AUTH_URL": "https://keystone.example.com/v3",
           "DJANGO_SECRET_KEY": "not-a-real-secret-for-this-test", "DATABASE_URL": "sqlite:///:memory:",
           "DJANGO_ALLOWED_HOSTS": "testserver"}
    script = ("import django; django.setup(); from django.test import Client; "
              "Client().get('/healthz', HTTP_X_REQUEST_ID='req-test-0001')")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    access = [json.loads(line) for line in result.stderr.splitlines() if '"volpanel.access"' in line]
    assert len(access) == 1 and access[0]["request_id"] == "req-test-0001"
    assert (access[0]["path"], access[0]["status"], access[0]["level"]) == ("/healthz", 200, "INFO")
