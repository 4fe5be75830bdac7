"""The configured cloud, for Django code: its connection settings, each signed-in user's Cloud in this process,
whether Keystone still honours a user's token, and which tokens ended (for every process's streams)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timezone

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError

from volpanel.lib.memo import Memo
from volpanel.openstack.cloud import Cloud
from volpanel.openstack.errors import CloudError
from volpanel.openstack.session import CloudConfig, Credentials, all_projects, token_valid

log = logging.getLogger(__name__)


def cloud_config() -> CloudConfig:
    o = settings.OPENSTACK
    return CloudConfig(
        auth_url=o["auth_url"], region_name=o["region_name"], interface=o["interface"],
        user_domain_name=o["user_domain_name"], project_domain_name=o["project_domain_name"],
        verify=o["verify"], timeout=o["timeout"], total_timeout=o["total_timeout"],
        max_body_bytes=o["max_body_bytes"],
    )


def connect(credentials: Credentials) -> Cloud:
    """The user's Cloud, shared by every request with the same token in this process."""
    return Cloud.connect(cloud_config(), credentials)


def disconnect(credentials: Credentials) -> None:
    """Drop the user's session from this process (logout, a replaced token, or a token the cloud refused), and
    tell every process the token ended: their open status streams of it stop (volumes/streams.py)."""
    Cloud.forget(cloud_config(), credentials)
    expires = credentials.expires_at
    ttl = ENDED_LONGEST
    if expires is not None:
        left = (expires.replace(tzinfo=expires.tzinfo or timezone.utc) - datetime.now(timezone.utc)).total_seconds()
        ttl = min(max(left + 60, 60), ENDED_LONGEST)  # past its expiry the token ends anyway
    try:
        cache.set(ENDED_PREFIX + credentials.token_hash, True, ttl)
    except DatabaseError as exc:
        log.warning("could not tell the other processes that a token ended: %s", exc)


# Tokens that ended, named in the shared cache (VOLPANEL_CACHE) by their hash: what every process's streams read.
ENDED_PREFIX = "volpanel:token-ended:"
ENDED_LONGEST = 24 * 3600.0


def ended(token_names: Iterable[str]) -> set[str]:
    """Which of these tokens ended (disconnect) in any process. One cache read for all of them."""
    keys = {ENDED_PREFIX + name: name for name in token_names}
    return {keys[key] for key in cache.get_many(list(keys))} if keys else set()


# Tokens Keystone confirmed lately (admins reading the audit trail, whose pages ask the cloud nothing).
TOKEN_CHECK_TTL = 60.0
_honoured: Memo[tuple[str, str], bool] = Memo("cloud.honoured_tokens", TOKEN_CHECK_TTL, size=1000)


def token_honoured(credentials: Credentials) -> bool:
    """Whether the token is still good: not past its expiry, and not revoked as far as Keystone said within
    TOKEN_CHECK_TTL. If Keystone cannot be asked, the expiry alone decides (logged)."""
    cloud = connect(credentials)
    if cloud.expired:
        return False
    key = (cloud.config.auth_url, cloud.token_id)
    if _honoured.get(key) is not None:
        return True
    try:
        valid = token_valid(cloud.config, credentials)
    except CloudError as exc:
        if exc.kind != "auth":
            log.warning("could not ask Keystone whether a token is still valid: %s", exc)
            return True
        valid = False  # Keystone refused the token even as the caller of its own check
    if valid:
        _honoured.put(key, True)
    else:
        disconnect(credentials)
    return valid


# Project names by id, per cloud, for admin pages (Keystone's GET /v3/projects with an admin's token): a project
# created or renamed shows within PROJECT_NAMES_TTL. Every admin of the cloud sees the same list.
PROJECT_NAMES_TTL = 60.0
_project_names: Memo[str, dict[str, str]] = Memo("cloud.project_names", PROJECT_NAMES_TTL, size=16)


def project_names(credentials: Credentials | None) -> dict[str, str]:
    """Project id → name, for an admin's credentials; empty (pages show ids) for anyone else or if Keystone does
    not answer."""
    if credentials is None or not credentials.is_admin:
        return {}
    config = cloud_config()
    names = _project_names.get(config.auth_url)
    if names is None:
        try:
            names = {p.id: p.name for p in all_projects(config, credentials)}
        except CloudError as exc:
            # Ids for a while: not every admin page waiting on a Keystone that does not answer.
            log.warning("could not list the cloud's projects, showing ids: %s", exc)
            names = {}
        _project_names.put(config.auth_url, names)
    return names

