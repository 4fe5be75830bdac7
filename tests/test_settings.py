"""Settings come from the environment (or a named cloud in clouds.yaml) and fail loudly on bad values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRINT = ("import django, json; django.setup(); from django.conf import settings; "
         "print(json.dumps({'o': settings.OPENSTACK, 'demo': settings.DEMO_MODE}))")


def clean_environment() -> dict[str, str]:
    """This process's environment without any volpanel setting, so each test states the ones it means."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "DJANGO_", "VOLPANEL_", "DEMOCLOUD_"))}


def load(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PRINT], cwd=ROOT, capture_output=True, text=True,
                          env={**clean_environment(), "DJANGO_SETTINGS_MODULE": "volpanel.settings", **env}, timeout=60)


def test_it_uses_the_demo_cloud_when_nothing_is_configured() -> None:
    result = load()
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["demo"] and data["o"]["auth_url"] == "http://127.0.0.1:8780/identity/v3"


def test_it_reads_a_named_cloud_from_clouds_yaml_and_lets_the_environment_win(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here")
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        "clouds:\n  prod:\n    auth:\n      auth_url: https://keystone.example.com:5000/v3/\n"
        "      user_domain_name: Corp\n      project_domain_name: Corp\n"
        f"    region_name: RegionTwo\n    interface: internal\n    cacert: {ca}\n"
    )
    result = load(OS_CLOUD="prod", OS_CLIENT_CONFIG_FILE=str(clouds), DJANGO_SECRET_KEY="s3cret")
    assert result.returncode == 0, result.stderr
    o = json.loads(result.stdout)["o"]
    assert o["auth_url"] == "https://keystone.example.com:5000/v3"
    assert (o["region_name"], o["interface"], o["user_domain_name"], o["verify"]) == (
        "RegionTwo", "internal", "Corp", str(ca))
    overridden = load(OS_CLOUD="prod", OS_CLIENT_CONFIG_FILE=str(clouds), DJANGO_SECRET_KEY="s3cret",
                      OS_REGION_NAME="RegionOne", OS_INSECURE="true")
    o = json.loads(overridden.stdout)["o"]
    assert (o["region_name"], o["verify"]) == ("RegionOne", False)

    missing = load(OS_CLOUD="staging", OS_CLIENT_CONFIG_FILE=str(clouds), DJANGO_SECRET_KEY="s3cret")
    assert missing.returncode != 0 and "has no cloud named 'staging' (it has: prod)" in missing.stderr


def test_it_lends_postgresql_connections_from_a_pool_not_one_per_thread() -> None:
    # Under ASGI each request runs in a thread of its own: persistent per-thread connections would pile up.
    code = ("import django, json; django.setup(); from django.db import connection; "
            "print(json.dumps([connection.settings_dict['CONN_MAX_AGE'], connection.settings_dict['OPTIONS']]))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**clean_environment(), "DJANGO_SETTINGS_MODULE": "volpanel.settings",
                                 "DATABASE_URL": "postgres://u@db.example/volpanel", "DATABASE_POOL_MAX_SIZE": "8"})
    assert result.returncode == 0, result.stderr
    max_age, options = json.loads(result.stdout)
    assert max_age == 0 and options["pool"]["max_size"] == 8 and options["pool"]["min_size"] == 2


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OS_AUTH_URL": "keystone:5000/v3", "DJANGO_SECRET_KEY": "x"}, "is not an http(s) URL"),
        ({"OS_AUTH_URL": "https://keystone/v3"}, "Set DJANGO_SECRET_KEY"),
        ({"OS_INTERFACE": "outer"}, "OS_INTERFACE must be public, internal or admin"),
        ({"VOLPANEL_POLL_INTERVAL": "fast"}, "VOLPANEL_POLL_INTERVAL='fast' is not a number"),
        ({"OS_INSECURE": "maybe"}, "OS_INSECURE='maybe' is not a boolean"),
        ({"VOLPANEL_LOG_FORMAT": "xml"}, "VOLPANEL_LOG_FORMAT='xml': use json or text"),
        ({"VOLPANEL_LOG_LEVEL": "LOUD"}, "VOLPANEL_LOG_LEVEL='LOUD': use DEBUG"),
        ({"OS_CACERT": "/nonexistent/ca.pem"}, "does not exist"),
        ({"OS_CLOUD": "prod", "OS_CLIENT_CONFIG_FILE": "/nonexistent/clouds.yaml"}, "no clouds.yaml was found"),
        ({"VOLPANEL_RECONCILE_INTERVAL": "5m"}, "VOLPANEL_RECONCILE_INTERVAL='5m' is not a number"),
        ({"VOLPANEL_RECONCILE_INTERVAL": "0.5"}, "VOLPANEL_RECONCILE_INTERVAL=0.5 is below 1 second"),
        ({"VOLPANEL_RECONCILE_GRACE": "-1"}, "VOLPANEL_RECONCILE_GRACE='-1' must be at least 0.0"),
        ({"VOLPANEL_RECONCILE_GRACE": "30"},
         "VOLPANEL_RECONCILE_GRACE=30 must be at least VOLPANEL_CLOUD_TOTAL_TIMEOUT=60"),
        ({"VOLPANEL_RECONCILE_INTERVAL": "nan"}, "VOLPANEL_RECONCILE_INTERVAL='nan' is not a finite number"),
        ({"VOLPANEL_CLOUD_TIMEOUT": "inf"}, "VOLPANEL_CLOUD_TIMEOUT='inf' is not a finite number"),
        ({"VOLPANEL_AUDIT_DIGEST_KEY": "k" * 40}, "Set both VOLPANEL_AUDIT_DIGEST_KEY and VOLPANEL_AUDIT_DIGEST_DIR"),
        ({"VOLPANEL_AUDIT_DIGEST_KEY": "short", "VOLPANEL_AUDIT_DIGEST_DIR": "/tmp"}, "must be at least 32 bytes"),
        ({"VOLPANEL_AUDIT_DIGEST_KEY": "k" * 40, "VOLPANEL_AUDIT_DIGEST_DIR": "/nonexistent/digests"},
         "VOLPANEL_AUDIT_DIGEST_DIR='/nonexistent/digests' is not a directory"),
        ({"VOLPANEL_AUDIT_DIGEST_INTERVAL": "3600"}, "VOLPANEL_AUDIT_DIGEST_INTERVAL needs VOLPANEL_AUDIT_DIGEST_KEY"),
        ({"VOLPANEL_CLOUD_TOTAL_TIMEOUT": "5", "VOLPANEL_CLOUD_TIMEOUT": "10"},
         "must be at least VOLPANEL_CLOUD_TIMEOUT"),
        ({"VOLPANEL_CLOUD_MAX_BODY_MB": "0.1"}, "VOLPANEL_CLOUD_MAX_BODY_MB='0.1' must be at least 1.0"),
        ({"VOLPANEL_CACHE": "memcached://127.0.0.1:11211"}, "VOLPANEL_CACHE='memcached://127.0.0.1:11211': use db"),
        ({"DATABASE_URL": "postgres://u@db/volpanel", "DATABASE_POOL_MAX_SIZE": "-1"},
         "DATABASE_POOL_MAX_SIZE='-1' must be at least 0"),
    ],
)
def test_it_refuses_bad_settings_with_a_message_naming_them(env: dict[str, str], message: str) -> None:
    result = load(**env)
    assert result.returncode != 0 and message in result.stderr, result.stderr[-500:]


def test_it_passes_djangos_deployment_checks_with_production_settings() -> None:
    env = {**clean_environment(), "DJANGO_SETTINGS_MODULE": "volpanel.settings", "OS_AUTH_URL": "https://keystone.example.com/v3",
           "DJANGO_SECRET_KEY": "k" * 20 + "-Zq8#vR2!mP5@wX9$tL3^nB7&cF1*hJ4(", "VOLPANEL_HTTPS": "true",
           "DJANGO_ALLOWED_HOSTS": "volpanel.example.com"}
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_refuses_a_trusted_proxy_list_it_cannot_hold_to() -> None:
    for env, reason in [({"VOLPANEL_TRUSTED_PROXIES": "*"}, "cannot be '*'"),
                        ({"VOLPANEL_TRUSTED_PROXIES": "10.0.0.5, proxy.example"}, "'proxy.example' is not an IP"),
                        ({"FORWARDED_ALLOW_IPS": "10.0.0.5"}, "FORWARDED_ALLOW_IPS is not read")]:
        result = load(**env)
        assert result.returncode != 0 and reason in result.stderr, (env, result.stderr[-500:])
    assert load(VOLPANEL_TRUSTED_PROXIES="127.0.0.1, 10.0.1.0/24, ::1").returncode == 0
