"""Login throttling: growing delays per user name and address, never a lockout of the user elsewhere; counts shared
by every web process (the database cache)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.test_settings import ROOT, clean_environment
from volpanel.accounts import throttle


def in_process(database: Path, code: str) -> str:
    """Run `code` in a fresh Python process with volpanel's settings on the given SQLite database — as one more
    gunicorn worker (or another host) sharing that database would."""
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from volpanel.accounts import throttle; " + code],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**clean_environment(), "DJANGO_SETTINGS_MODULE": "volpanel.settings",
             "DATABASE_URL": f"sqlite:///{database}"})
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_it_counts_failed_logins_across_processes_in_the_database_cache(tmp_path: Path) -> None:
    database = tmp_path / "shared.sqlite3"
    migrate = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT,
                             capture_output=True, text=True, timeout=120,
                             env={**clean_environment(), "DJANGO_SETTINGS_MODULE": "volpanel.settings",
                                  "DATABASE_URL": f"sqlite:///{database}"})
    assert migrate.returncode == 0, migrate.stderr[-2000:]  # migrate also creates the cache table

    half = throttle.FREE_PER_PAIR // 2
    rest = throttle.FREE_PER_PAIR - half
    first = in_process(database, f"[throttle.record_failure('Alice', '10.0.0.1') for _ in range({half})]; "
                                 "print(throttle.wait_seconds('alice', '10.0.0.1'))")
    assert first == "0"
    second = in_process(database, f"[throttle.record_failure('alice ', '10.0.0.1') for _ in range({rest})]; "
                                  "w = throttle.wait_seconds; "
                                  "print(w('alice', '10.0.0.1'), w('alice', '10.0.0.9'), w('bob', '10.0.0.1'))")
    # The second process saw the first one's failures: alice waits from 10.0.0.1 only; bob there does not.
    assert second == "1 0 0"
    third = in_process(database, "throttle.clear('ALICE', '10.0.0.1'); "
                                 "print(throttle.wait_seconds('alice', '10.0.0.1'))")
    assert third == "0"


def test_it_doubles_the_delay_per_failure_and_caps_it(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.core.cache import cache

    cache.clear()
    now = [1_000_000.0]
    monkeypatch.setattr(throttle, "clock", lambda: now[0])
    waits = []
    for _ in range(throttle.FREE_PER_PAIR + 12):
        throttle.record_failure("bob", "192.0.2.1")
        waits.append(throttle.wait_seconds("bob", "192.0.2.1"))
        now[0] += waits[-1]  # the guesser waits exactly as long as told
    assert waits == [0] * (throttle.FREE_PER_PAIR - 1) + [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]
    # Ten hours of guessing bob from one address: how many tries it gets once the delay is at its longest.
    assert 36_000 // throttle.MAX_DELAY == 40
    throttle.record_failure("bob", "192.0.2.1")
    assert throttle.wait_seconds("BOB ", "192.0.2.1") == 900 and throttle.wait_seconds("bob", "192.0.2.2") == 0
    now[0] += 450
    assert throttle.wait_seconds("bob", "192.0.2.1") == 450

    # Spraying many names from one address: free for a while, then slowed for every name there, at most 5 minutes.
    for i in range(throttle.FREE_PER_ADDRESS + 20):
        throttle.record_failure(f"user{i}", "198.51.100.1")
    assert throttle.wait_seconds("carol", "198.51.100.1") == throttle.MAX_ADDRESS_DELAY
    assert throttle.wait_seconds("carol", "198.51.100.2") == 0
    cache.clear()
