"""pytest wiring for the real Keystone + Cinder (+ Glance) rig started by tests/realcloud/up.sh."""
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
DEFAULT_ENV_FILE = REPO / ".cache" / "realcloud" / "env"


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "realcloud: needs the real Keystone + Cinder (+ Glance) from tests/realcloud/up.sh; "
        "skipped when its env file is absent",
    )


def read_env_file(path):
    """Parse the `export KEY=VALUE` lines up.sh writes."""
    env = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):]
        key, _, value = line.partition("=")
        env[key.strip()] = value.strip().strip("'\"")
    return env


def _listening(url):
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 80), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def realcloud_env():
    """The rig's env file as a dict; skips when it is absent (or nothing listens), unless REALCLOUD_REQUIRED=1."""
    required = os.environ.get("REALCLOUD_REQUIRED") == "1"
    path = Path(os.environ.get("REALCLOUD_ENV", DEFAULT_ENV_FILE))
    if not path.is_file():
        msg = f"no realcloud env file at {path}; run tests/realcloud/up.sh"
        if required:
            pytest.fail(msg)
        pytest.skip(msg)
    env = read_env_file(path)
    if not _listening(env["OS_AUTH_URL"]):
        msg = f"{path} exists but nothing listens at {env['OS_AUTH_URL']}; run tests/realcloud/up.sh"
        if required:
            pytest.fail(msg)
        pytest.skip(msg)
    return env
