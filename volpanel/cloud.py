"""The configured cloud, for Django code: its connection settings, each signed-in user's Cloud in this process,
and whether Keystone still honours a user's token."""

from __future__ import annotations

import logging

from django.conf import settings

from volpanel.lib.memo import Memo
from volpanel.openstack.cloud import Cloud
from volpanel.openstack.errors import CloudError
from volpanel.openstack.session import CloudConfig, Credentials, token_valid

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
    """Drop the user's session from this process (logout, or a token the cloud refused)."""
    Cloud.forget(cloud_config(), credentials)


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
