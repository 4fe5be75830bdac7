"""The Dockerfile (no Docker engine runs here): parsed for what a production image must do, and every file it
copies exists."""

from __future__ import annotations

import shlex
from pathlib import Path

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
    assert "pip install -r requirements.txt" in runs and "collectstatic --noinput" in runs
    user = [arg for kind, arg in steps if kind == "USER"]
    assert user == ["volpanel"] and kinds.index("USER") > max(i for i, k in enumerate(kinds) if k == "RUN")
    health = next(arg for kind, arg in steps if kind == "HEALTHCHECK")
    assert "/healthz" in health
    entry = next(arg for kind, arg in steps if kind == "ENTRYPOINT")
    assert "volpanel.asgi:application" in entry and "volpanel/gunicorn.conf.py" in entry
    assert "migrate" in entry  # only when asked: `docker run IMAGE migrate`
