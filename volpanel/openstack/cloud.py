"""One user's view of one cloud: a keystoneauth session and the service clients riding on it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property

from keystoneauth1 import access

from volpanel.openstack.cinder import CinderClient
from volpanel.openstack.glance import GlanceClient
from volpanel.openstack.nova import NovaClient
from volpanel.openstack.session import CloudConfig, Credentials, user_session


@dataclass
class Cloud:
    config: CloudConfig
    credentials: Credentials
    cinder: CinderClient
    nova: NovaClient
    glance: GlanceClient

    @classmethod
    def connect(cls, config: CloudConfig, credentials: Credentials) -> "Cloud":
        sess = user_session(config, credentials)
        return cls(
            config=config,
            credentials=credentials,
            cinder=CinderClient(sess, config),
            nova=NovaClient(sess, config),
            glance=GlanceClient(sess, config),
        )

    @cached_property
    def _catalog(self) -> access.service_catalog.ServiceCatalogV3:
        state = json.loads(self.credentials.auth_state)
        return access.create(body=state["body"], auth_token=state["auth_token"]).service_catalog

    def has_service(self, service_type: str) -> bool:
        """Whether the token's catalog lists the service; asks nothing of the cloud."""
        found = self._catalog.get_endpoints(
            service_type=service_type, interface=self.config.interface, region_name=self.config.region_name
        )
        return bool(found.get(service_type))
