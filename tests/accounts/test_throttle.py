"""Login throttling holds across web processes: failures counted in one are seen by the others (shared cache)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.test_settings import ROOT, clean_environment


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

    half = throttle_max() // 2
    first = in_process(database, f"[throttle.record_failure('Alice', '10.0.0.1') for _ in range({half})]; "
                                 "print(throttle.is_locked('alice', '10.0.0.9'))")
    assert first == "False"
    second = in_process(database, f"[throttle.record_failure('alice ', '10.0.0.2') for _ in range({half})]; "
                                  "print(throttle.is_locked('alice', '10.0.0.9'), "
                                  "throttle.is_locked('bob', '10.0.0.9'))")
    # The second process saw the first one's failures: alice is locked out everywhere, bob is not.
    assert second == "True False"
    third = in_process(database, "throttle.clear('alice'); print(throttle.is_locked('alice', '10.0.0.9'))")
    assert third == "False"


def throttle_max() -> int:
    from volpanel.accounts import throttle

    return throttle.MAX_PER_USER
