"""One user's view of one cloud: a keystoneauth session and the service clients riding on it, kept per token."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property

from keystoneauth1 import access

from volpanel.openstack.cinder import CinderClient
from volpanel.openstack.glance import GlanceClient
from volpanel.openstack.nova import NovaClient
from volpanel.openstack.session import CloudConfig, Credentials, user_session

# Building a user's session parses the token and its catalog and starts cold endpoint lookups; reusing it for
# every request that carries the same token makes that a once-per-token cost. Entries live in this process's
# memory only (keyed by a hash of the token, never written anywhere), end with the token's expiry or the
# user's logout, and the oldest give way beyond MAX_SESSIONS.
MAX_SESSIONS = 1000
_sessions: OrderedDict[tuple[CloudConfig, str], Cloud] = OrderedDict()
_sessions_lock = threading.Lock()


def _token_key(config: CloudConfig, credentials: Credentials) -> tuple[CloudConfig, str]:
    return config, credentials.token_hash


def token_expired(credentials: Credentials) -> bool:
    """Whether the token's own expiry time has passed (asks nothing of the cloud)."""
    return _expired(credentials, datetime.now(timezone.utc))


def _expired(credentials: Credentials, now: datetime) -> bool:
    expires = credentials.expires_at
    if expires is None:
        return False
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=timezone.utc)
    return expires <= now


@dataclass
class Cloud:
    config: CloudConfig
    credentials: Credentials
    cinder: CinderClient
    nova: NovaClient
    glance: GlanceClient

    @classmethod
    def connect(cls, config: CloudConfig, credentials: Credentials) -> Cloud:
        """The process's Cloud for this token: built on first use, then shared by the token's requests."""
        key = _token_key(config, credentials)
        now = datetime.now(timezone.utc)
        with _sessions_lock:
            cloud = _sessions.get(key)
            if cloud is not None and not _expired(cloud.credentials, now):
                _sessions.move_to_end(key)
                return cloud
        cloud = cls.build(config, credentials)
        if _expired(credentials, now):
            return cloud  # of no use to a later request: not kept
        with _sessions_lock:
            _sessions[key] = cloud
            for stale in [k for k, c in _sessions.items() if _expired(c.credentials, now)]:
                del _sessions[stale]
            while len(_sessions) > MAX_SESSIONS:
                _sessions.popitem(last=False)
        return cloud

    @classmethod
    def build(cls, config: CloudConfig, credentials: Credentials) -> Cloud:
        """A new session and clients for this token, shared with nobody."""
        sess = user_session(config, credentials)
        return cls(
            config=config,
            credentials=credentials,
            cinder=CinderClient(sess, config),
            nova=NovaClient(sess, config),
            glance=GlanceClient(sess, config),
        )

    @classmethod
    def forget(cls, config: CloudConfig, credentials: Credentials) -> None:
        """Drop this token's session (logout, revoked or rejected token)."""
        with _sessions_lock:
            _sessions.pop(_token_key(config, credentials), None)

    @property
    def expired(self) -> bool:
        return token_expired(self.credentials)

    @property
    def token_id(self) -> str:
        """A hash naming this token in memos (never the token itself)."""
        return self.credentials.token_hash

    @cached_property
    def _catalog(self) -> access.service_catalog.ServiceCatalog:
        state = json.loads(self.credentials.auth_state)
        return access.create(body=state["body"], auth_token=state["auth_token"]).service_catalog

    @cached_property
    def _has_service(self) -> dict[str, bool]:
        return {}

    def has_service(self, service_type: str) -> bool:
        """Whether the token's catalog lists the service; asks nothing of the cloud. Kept per token: its catalog
        does not change, and looking it up walks the whole catalog."""
        known = self._has_service.get(service_type)
        if known is None:
            found = self._catalog.get_endpoints(
                service_type=service_type, interface=self.config.interface, region_name=self.config.region_name
            )
            known = self._has_service[service_type] = bool(found.get(service_type))
        return known


def open_sessions() -> int:
    """How many user sessions this process holds (benchmarks and tests read it)."""
    with _sessions_lock:
        return len(_sessions)
