"""The one settings module: everything a deployment changes comes from the environment and fails loudly."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from volpanel.lib import proxies
from volpanel.logs import logging_config
from volpanel.openstack.clouds import CloudsYamlError, OpenStackSettings, load_cloud

BASE_DIR = Path(__file__).resolve().parent.parent


def envstr(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise ImproperlyConfigured(f"Set the environment variable {name}.")
    return value


def envbool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true or false.")


def envfloat(name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None
    if not math.isfinite(value):
        # nan compares false with everything: a nan interval would pass every check below and spin a loop.
        raise ImproperlyConfigured(f"{name}={raw!r} is not a finite number.")
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum}.")
    return value


def envlist(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


# Which cloud: OS_CLOUD names one in clouds.yaml (openstacksdk's format; OS_CLIENT_CONFIG_FILE points at the
# file), or OS_AUTH_URL and friends give it directly. With neither, volpanel talks to the embedded demo cloud
# (volpanel.democloud), which `make run` starts on DEMOCLOUD_PORT. Only demo mode may use built-in secrets.
OS_CLOUD = os.environ.get("OS_CLOUD", "").strip()
_named: dict[str, Any] = {}
if OS_CLOUD:
    try:
        _named = load_cloud(OS_CLOUD, os.environ.get("OS_CLIENT_CONFIG_FILE") or None)
    except CloudsYamlError as exc:
        raise ImproperlyConfigured(str(exc)) from None
OS_AUTH_URL = str(_named.get("auth_url") or os.environ.get("OS_AUTH_URL", "")).strip()
if OS_AUTH_URL and not OS_AUTH_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"OS_AUTH_URL={OS_AUTH_URL!r} is not an http(s) URL of Keystone's v3 API.")
DEMO_MODE = not OS_AUTH_URL
DEMOCLOUD_PORT = int(envfloat("DEMOCLOUD_PORT", 8780, minimum=1))
if DEMO_MODE:
    OS_AUTH_URL = f"http://127.0.0.1:{DEMOCLOUD_PORT}/identity/v3"

DEBUG = envbool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEMO_MODE:
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY: volpanel is pointed at a real cloud (OS_AUTH_URL).")
    SECRET_KEY = "volpanel-demo-mode-only-not-secret"
ALLOWED_HOSTS = envlist("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = envlist("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# The proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (gunicorn.conf.py hands them to the uvicorn
# worker, which rewrites the client's address from them); none by default. gunicorn's own FORWARDED_ALLOW_IPS
# trusts 127.0.0.1 unless told otherwise, so anyone on the host could pick their address: it is not read.
try:
    VOLPANEL_TRUSTED_PROXIES = proxies.parse(os.environ.get(proxies.ENV, ""))
except ValueError as exc:
    raise ImproperlyConfigured(str(exc)) from None
if "FORWARDED_ALLOW_IPS" in os.environ:
    raise ImproperlyConfigured("FORWARDED_ALLOW_IPS is not read: name the proxies in VOLPANEL_TRUSTED_PROXIES "
                               "(README, production).")

# How volpanel reaches OpenStack (keystoneauth1 settings an operator expects).
# Environment variables win over clouds.yaml, as in the openstack CLI.
OPENSTACK: OpenStackSettings = {
    "auth_url": OS_AUTH_URL,
    "region_name": os.environ.get("OS_REGION_NAME", "") or _named.get("region_name") or None,
    "interface": os.environ.get("OS_INTERFACE", "") or _named.get("interface") or "public",
    "user_domain_name": os.environ.get("OS_USER_DOMAIN_NAME", "") or _named.get("user_domain_name") or "Default",
    "project_domain_name": (os.environ.get("OS_PROJECT_DOMAIN_NAME", "") or _named.get("project_domain_name")
                            or "Default"),
    "verify": (os.environ.get("OS_CACERT", "") or (not envbool("OS_INSECURE", False) if "OS_INSECURE" in os.environ
                                                   else _named.get("verify", True))),
    "timeout": envfloat("VOLPANEL_CLOUD_TIMEOUT", 15.0, minimum=0.5),
    # The whole of one answer, body included, and its largest size (see CloudConfig).
    "total_timeout": envfloat("VOLPANEL_CLOUD_TOTAL_TIMEOUT", 60.0, minimum=1.0),
    "max_body_bytes": int(envfloat("VOLPANEL_CLOUD_MAX_BODY_MB", 32.0, minimum=1.0) * 1024 * 1024),
}
if OPENSTACK["total_timeout"] < OPENSTACK["timeout"]:
    raise ImproperlyConfigured(f"VOLPANEL_CLOUD_TOTAL_TIMEOUT={OPENSTACK['total_timeout']:g} must be at least "
                               f"VOLPANEL_CLOUD_TIMEOUT={OPENSTACK['timeout']:g}: it bounds a whole answer.")
if isinstance(OPENSTACK["verify"], str) and not Path(OPENSTACK["verify"]).is_file():
    raise ImproperlyConfigured(f"The CA bundle {OPENSTACK['verify']!r} (OS_CACERT or cacert) does not exist.")
if OPENSTACK["interface"] not in {"public", "internal", "admin"}:
    raise ImproperlyConfigured("OS_INTERFACE must be public, internal or admin.")

# Upload of a snapshot to an image is a vendor extension (Virtuozzo); upstream Cinder refuses it. The demo cloud
# has it switched on unless started with --no-snapshot-upload.
VOLPANEL_SNAPSHOT_UPLOAD = envbool("VOLPANEL_SNAPSHOT_UPLOAD", DEMO_MODE)

# How often a status watcher polls Cinder while a volume moves, and the longest it follows one action.
VOLPANEL_POLL_INTERVAL = envfloat("VOLPANEL_POLL_INTERVAL", 1.0, minimum=0.05)
VOLPANEL_SETTLE_TIMEOUT = envfloat("VOLPANEL_SETTLE_TIMEOUT", 900.0, minimum=1.0)
# After an in-use extend succeeds, how long viewers are shown volpanel waiting for Nova to record extend_volume
# (real Nova does within about 1.3 s; when it is down it never does, and the page then says so).
VOLPANEL_NOVA_EVENT_WAIT = envfloat("VOLPANEL_NOVA_EVENT_WAIT", 15.0, minimum=0.0)

# Threads of each web process that run pages and actions (volpanel.asgi), kept between requests; a request past
# them waits for one. Status streams run on the event loop and do not count.
VOLPANEL_VIEW_THREADS = int(envfloat("VOLPANEL_VIEW_THREADS", 64, minimum=1))

# What one signed-in session may cost: open status streams (per session, and per user across sessions; counted
# in each web process), and how fast its pages, actions and streams may make volpanel call the cloud (a page load
# is 3–4 calls): VOLPANEL_CLOUD_RATE requests a second on average, VOLPANEL_CLOUD_BURST at once. Past them: 429.
VOLPANEL_STREAMS_PER_SESSION = int(envfloat("VOLPANEL_STREAMS_PER_SESSION", 6, minimum=1))
VOLPANEL_STREAMS_PER_USER = int(envfloat("VOLPANEL_STREAMS_PER_USER", 20, minimum=1))
VOLPANEL_CLOUD_RATE = envfloat("VOLPANEL_CLOUD_RATE", 2.0, minimum=0.01)
VOLPANEL_CLOUD_BURST = envfloat("VOLPANEL_CLOUD_BURST", 60.0, minimum=1.0)
if VOLPANEL_STREAMS_PER_USER < VOLPANEL_STREAMS_PER_SESSION:
    raise ImproperlyConfigured(f"VOLPANEL_STREAMS_PER_USER={VOLPANEL_STREAMS_PER_USER} is below "
                               f"VOLPANEL_STREAMS_PER_SESSION={VOLPANEL_STREAMS_PER_SESSION}.")

# The credential `manage.py reconcile_audit` settles left-over accepted rows with: a user with the admin role
# (Cinder shows an admin every project's volumes). Unset outside demo mode: such rows then end as unknown.
VOLPANEL_SERVICE_USER = envstr("VOLPANEL_SERVICE_USER", "admin" if DEMO_MODE else "")
VOLPANEL_SERVICE_PASSWORD = envstr("VOLPANEL_SERVICE_PASSWORD", "demo" if DEMO_MODE else "")
VOLPANEL_SERVICE_PROJECT = envstr("VOLPANEL_SERVICE_PROJECT", "admin" if DEMO_MODE else "")
VOLPANEL_SERVICE_DOMAIN = envstr("VOLPANEL_SERVICE_DOMAIN", "Default")

# Each web process also reconciles, every VOLPANEL_RECONCILE_INTERVAL seconds (0: only the management command
# does), rows older than VOLPANEL_RECONCILE_GRACE seconds; several processes and hosts may run it at once.
VOLPANEL_RECONCILE_INTERVAL = envfloat("VOLPANEL_RECONCILE_INTERVAL", 300.0)
VOLPANEL_RECONCILE_GRACE = envfloat("VOLPANEL_RECONCILE_GRACE", 300.0)
if 0 < VOLPANEL_RECONCILE_INTERVAL < 1:
    raise ImproperlyConfigured(f"VOLPANEL_RECONCILE_INTERVAL={VOLPANEL_RECONCILE_INTERVAL} is below 1 second; "
                               "use 0 to switch the periodic reconciler off.")
if VOLPANEL_RECONCILE_GRACE < OPENSTACK["total_timeout"]:
    # A row younger than that may belong to a request still waiting for its answer: ending it as unknown would
    # lose the answer when it comes.
    raise ImproperlyConfigured(f"VOLPANEL_RECONCILE_GRACE={VOLPANEL_RECONCILE_GRACE:g} must be at least "
                               f"VOLPANEL_CLOUD_TOTAL_TIMEOUT={OPENSTACK['total_timeout']:g}: a request may still be "
                               "waiting for its answer that long.")

# Signed digests of the audit chain (`manage.py audit_digest`; CloudTrail's digest files): an HMAC-SHA256 key
# and the directory the digests go to, both or neither. With VOLPANEL_AUDIT_DIGEST_INTERVAL seconds > 0 the
# web process writes one whenever the newest digest there is older than that.
VOLPANEL_AUDIT_DIGEST_KEY = os.environ.get("VOLPANEL_AUDIT_DIGEST_KEY", "")
VOLPANEL_AUDIT_DIGEST_DIR = os.environ.get("VOLPANEL_AUDIT_DIGEST_DIR", "")
VOLPANEL_AUDIT_DIGEST_INTERVAL = envfloat("VOLPANEL_AUDIT_DIGEST_INTERVAL", 0.0)
if bool(VOLPANEL_AUDIT_DIGEST_KEY) != bool(VOLPANEL_AUDIT_DIGEST_DIR):
    raise ImproperlyConfigured("Set both VOLPANEL_AUDIT_DIGEST_KEY and VOLPANEL_AUDIT_DIGEST_DIR, or neither.")
if VOLPANEL_AUDIT_DIGEST_KEY and len(VOLPANEL_AUDIT_DIGEST_KEY.encode()) < 32:
    raise ImproperlyConfigured("VOLPANEL_AUDIT_DIGEST_KEY must be at least 32 bytes (e.g. `openssl rand -hex 32`).")
if VOLPANEL_AUDIT_DIGEST_DIR and not Path(VOLPANEL_AUDIT_DIGEST_DIR).is_dir():
    raise ImproperlyConfigured(f"VOLPANEL_AUDIT_DIGEST_DIR={VOLPANEL_AUDIT_DIGEST_DIR!r} is not a directory.")
if VOLPANEL_AUDIT_DIGEST_INTERVAL > 0 and not VOLPANEL_AUDIT_DIGEST_KEY:
    raise ImproperlyConfigured("VOLPANEL_AUDIT_DIGEST_INTERVAL needs VOLPANEL_AUDIT_DIGEST_KEY and "
                               "VOLPANEL_AUDIT_DIGEST_DIR.")
if 0 < VOLPANEL_AUDIT_DIGEST_INTERVAL < 1:
    raise ImproperlyConfigured(f"VOLPANEL_AUDIT_DIGEST_INTERVAL={VOLPANEL_AUDIT_DIGEST_INTERVAL} is below 1 "
                               "second; use 0 to write digests only with `manage.py audit_digest`.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "volpanel",
    # The audit trail's own room: its admin and management commands (its models keep the volpanel app label).
    "volpanel.audit",
]

MIDDLEWARE = [
    "volpanel.middleware.request_id",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "volpanel.middleware.form_charset",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "volpanel.middleware.content_security_policy",
]

# Form widgets rendered by Jinja2 from Django's own widget templates: the volume page carries every action form
# (they work without JavaScript), and the template language takes ~1 ms per widget where Jinja2 takes a tenth.
FORM_RENDERER = "django.forms.renderers.Jinja2"

ROOT_URLCONF = "volpanel.urls"
WSGI_APPLICATION = "volpanel.wsgi.application"
ASGI_APPLICATION = "volpanel.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "volpanel.accounts.context_processors.cloud_user",
            ],
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A pool per process (psycopg_pool, Django's "pool" option). Under ASGI every request runs its sync code in a
    # thread of its own, and watchers poll from their own threads: persistent per-thread connections
    # (CONN_MAX_AGE) would be one per thread that ever ran, left open until garbage collection — a busy
    # process ran PostgreSQL out of connections ("too many clients"). Connections are lent for a request or a
    # poll and given back after it. Each process holds at most max_size: workers × hosts × max_size must stay
    # under PostgreSQL's max_connections. DATABASE_POOL_MAX_SIZE=0 turns the pool off (a connection per
    # request), for a deployment with its own pooler such as PgBouncer in front of PostgreSQL.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    pool_max = int(envfloat("DATABASE_POOL_MAX_SIZE", 20))
    if pool_max:
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(int(envfloat("DATABASE_POOL_MIN_SIZE", 2)), pool_max),
            "max_size": pool_max,
            # A request that waits longer than this for a connection fails with 503 (errors.server_error).
            "timeout": envfloat("DATABASE_POOL_TIMEOUT", 5.0, minimum=0.1),
            # psycopg_pool retries a failed connect in the background with a doubling back-off, and meanwhile
            # makes no new attempt: after a minute's outage the pool would stay empty for half a minute more
            # once PostgreSQL is back. Giving up at once instead makes the next request that needs a connection
            # try again straight away.
            "reconnect_timeout": 1.0,
        }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the settle watchers write while pages read; the timeout rides out short write locks (past it,
    # an action is refused with 503 before the cloud hears of it: errors.server_error).
    DATABASES["default"]["OPTIONS"] = {
        "timeout": envfloat("VOLPANEL_SQLITE_TIMEOUT", 20.0, minimum=0.1),
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Each of the kept view threads (volpanel.asgi) keeps its connection between requests: opening one and
    # running the init_command cost ~0.2 ms of every page. A thread that ends (a watcher) drops its connection.
    DATABASES["default"]["CONN_MAX_AGE"] = None
    # Tests get a file in WAL mode like production, not Django's shared-cache memory database: there a watcher
    # thread's write makes a page's concurrent read fail at once ("database table is locked"), which WAL and the
    # busy timeout never do.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / ".test-db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SESSION_ENGINE = "volpanel.accounts.sessions"

# Failed logins are counted in the cache (volpanel.accounts.throttle), which every web process and host must
# share, or an attacker spreads guesses across them. By default it is a table in the database they already share;
# `migrate` creates it (volpanel.apps).
VOLPANEL_CACHE = os.environ.get("VOLPANEL_CACHE", "").strip() or "db"
if VOLPANEL_CACHE == "db":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "volpanel_cache"}}
elif VOLPANEL_CACHE == "locmem":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
elif VOLPANEL_CACHE.startswith(("redis://", "rediss://", "unix://")):
    try:
        import redis  # noqa: F401  (Django's RedisCache needs it)
    except ImportError:
        raise ImproperlyConfigured(f"VOLPANEL_CACHE={VOLPANEL_CACHE!r} needs the redis package "
                                   "(pip install redis).") from None
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": VOLPANEL_CACHE}}
else:
    raise ImproperlyConfigured(f"VOLPANEL_CACHE={VOLPANEL_CACHE!r}: use db (the default, shared through the "
                               "database), redis://host:6379/0, or locmem (a single process only).")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = envbool("VOLPANEL_HTTPS", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_AGE = 60 * 60 * 12
LOGIN_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

# JSON lines with the request id on every record (what log shippers parse); plain text in demo mode, where a
# person reads the terminal. VOLPANEL_LOG_FORMAT overrides either.
VOLPANEL_LOG_FORMAT = envstr("VOLPANEL_LOG_FORMAT", "text" if DEMO_MODE else "json").strip().lower()
if VOLPANEL_LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured(f"VOLPANEL_LOG_FORMAT={VOLPANEL_LOG_FORMAT!r}: use json or text.")
VOLPANEL_LOG_LEVEL = envstr("VOLPANEL_LOG_LEVEL", "INFO").strip().upper()
if VOLPANEL_LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"VOLPANEL_LOG_LEVEL={VOLPANEL_LOG_LEVEL!r}: use DEBUG, INFO, WARNING or ERROR.")
LOGGING = logging_config(VOLPANEL_LOG_FORMAT, VOLPANEL_LOG_LEVEL)

# Behind TLS (VOLPANEL_HTTPS=true): secure cookies (above), HSTS, redirect plain HTTP, and trust the TLS
# terminator's X-Forwarded-Proto. `manage.py check --deploy` passes with these (tests/test_settings.py).
if SESSION_COOKIE_SECURE:
    SECURE_HSTS_SECONDS = int(envfloat("VOLPANEL_HSTS_SECONDS", 31536000))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("VOLPANEL_HSTS_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = envbool("VOLPANEL_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # Joining the browsers' preload list is a one-way decision for the whole domain: the operator's call,
        # made with VOLPANEL_HSTS_PRELOAD=true, not a default of ours.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    SECURE_SSL_REDIRECT = envbool("VOLPANEL_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
