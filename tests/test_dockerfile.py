"""The Dockerfile (no Docker engine runs here): linted by hadolint, parsed for what a production image must do,
and its own commands run in a clean virtualenv, as the image would run them."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


def instructions() -> list[tuple[str, str]]:
    lines, current = [], ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        if raw.strip().startswith("#") or not raw.strip():
            continue
        current += raw.rstrip("\\").strip() + " "
        if not raw.rstrip().endswith("\\"):
            word, _, rest = current.strip().partition(" ")
            lines.append((word.upper(), rest.strip()))
            current = ""
    return lines


def test_it_builds_a_slim_non_root_image_that_serves_asgi_and_checks_its_health() -> None:
    steps = instructions()
    kinds = [kind for kind, _ in steps]
    assert steps[0] == ("FROM", "python:3.11-slim")
    for kind, arg in steps:
        if kind == "COPY":
            for source in shlex.split(arg)[:-1]:
                assert (ROOT / source).exists(), source
    runs = " ".join(arg for kind, arg in steps if kind == "RUN")
    assert "pip install -r /tmp/runtime.txt" in runs and "collectstatic --noinput" in runs
    user = [arg for kind, arg in steps if kind == "USER"]
    assert user == ["10001"] and kinds.index("USER") > max(i for i, k in enumerate(kinds) if k == "RUN")
    health = next(arg for kind, arg in steps if kind == "HEALTHCHECK")
    assert "/healthz" in health
    entry = next(arg for kind, arg in steps if kind == "ENTRYPOINT")
    assert "volpanel.asgi:application" in entry and "volpanel/gunicorn.conf.py" in entry
    assert "migrate" in entry  # only when asked: `docker run IMAGE migrate`


def test_it_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), "--failure-threshold", "info", "Dockerfile"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.image
def test_it_runs_the_images_own_commands_in_a_clean_virtualenv(tmp_path: Path) -> None:
    """Each COPY, RUN, ENTRYPOINT and HEALTHCHECK of the Dockerfile, in order, in a fresh virtualenv standing in
    for python:3.11-slim; only the user switch is left out (the test does not create system users)."""
    app, venv = tmp_path / "app", tmp_path / "venv"
    app.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           # A loaded machine answers the package index slowly: wait and retry rather than fail the build.
           "PIP_DEFAULT_TIMEOUT": "60", "PIP_RETRIES": "10"}
    port = free_port()
    served: subprocess.Popen[str] | None = None
    health: list[str] = []
    try:
        for kind, arg in instructions():
            if kind == "COPY":
                *sources, _dest = shlex.split(arg)
                for source in sources:
                    (shutil.copytree if (ROOT / source).is_dir() else shutil.copy)(ROOT / source, app / source)
            elif kind == "RUN":
                steps = [s for s in arg.split("&&") if not s.strip().startswith(("useradd", "chown"))]
                # The image's /tmp is its own; here it is shared with whatever else runs on the machine.
                steps = [s.replace("/tmp/", f"{tmp_path}/") for s in steps]
                result = subprocess.run(["sh", "-c", " && ".join(steps)], cwd=app, env=env, capture_output=True,
                                        text=True, timeout=600)
                assert result.returncode == 0, f"RUN {arg}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
            elif kind == "ENTRYPOINT":
                entry = [part.replace("0.0.0.0:8000", f"127.0.0.1:{port}") for part in json.loads(arg)]
                migrated = subprocess.run([*entry, "migrate"], cwd=app, env=env, capture_output=True, text=True,
                                          timeout=120)
                assert migrated.returncode == 0 and (app / "db.sqlite3").exists(), migrated.stderr[-2000:]
                served = subprocess.Popen(entry, cwd=app, env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, text=True)
            elif kind == "HEALTHCHECK":
                health = [part.replace(":8000/", f":{port}/") for part in json.loads(arg.split("CMD", 1)[1])]
        # What the engine does once the container runs: the health check, until it passes or gives up.
        assert served is not None and health
        deadline = time.monotonic() + 30
        while True:
            healthy = subprocess.run(health, cwd=app, env=env, capture_output=True, text=True, timeout=10)
            if healthy.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if healthy.returncode != 0:
            served.terminate()
            pytest.fail(f"HEALTHCHECK failed: {healthy.stderr[-500:]}\nserver: {served.communicate()[1][-3000:]}")
        assert served is not None and served.poll() is None
        assert (app / "staticfiles" / "volpanel" / "volpanel.css").exists()
        assert not (venv / "bin" / "pytest").exists()  # the runtime part of requirements.txt only
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/volpanel/volpanel.css", timeout=5) as css:
            assert css.status == 200  # WhiteNoise serves the collected files
    finally:
        if served is not None:
            served.terminate()
            served.wait(20)
