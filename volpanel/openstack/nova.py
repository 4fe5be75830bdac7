"""Nova (subset): the servers a volume can attach to, server attach/detach, and instance actions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keystoneauth1 import session as ks_session

from volpanel.openstack.errors import CloudError, fault_from_response, request_id_of, understood
from volpanel.openstack.session import CatalogAdapter, CloudConfig, call

SERVICE = "compute"


@dataclass(frozen=True)
class Server:
    id: str
    name: str
    status: str


@dataclass(frozen=True)
class InstanceAction:
    action: str
    request_id: str
    start_time: str
    message: str


@dataclass(frozen=True)
class ServerAttachment:
    id: str
    server_id: str
    volume_id: str
    device: str
    request_id: str


class NovaClient:
    def __init__(self, sess: ks_session.Session, config: CloudConfig) -> None:
        self._adapter = CatalogAdapter(
            sess, service_type="compute", interface=config.interface, region_name=config.region_name,
            raise_exc=False,
        )

    def _send(self, method: str, path: str, json: Any = None) -> Any:
        kwargs: dict[str, Any] = {"raise_exc": False}
        if method != "GET":
            # keystoneauth answers a 401 by re-authenticating and sending again: an attach goes out once.
            kwargs["allow_reauth"] = False
        if json is not None:
            kwargs["json"] = json
        response = call(SERVICE, lambda: self._adapter.request(path, method, **kwargs))
        if response.status_code >= 400:
            raise fault_from_response(SERVICE, response)
        return response

    def _json(self, response: Any, key: str) -> Any:
        try:
            return response.json()[key]
        except (ValueError, KeyError, TypeError) as exc:
            raise CloudError("malformed", f"Nova's answer has no '{key}'.", service=SERVICE) from exc

    def available(self) -> bool:
        """Whether this cloud has Compute at all (storage-only clouds don't)."""
        try:
            return bool(call(SERVICE, self._adapter.endpoint))
        except CloudError as exc:
            if exc.kind == "catalog":
                return False
            raise

    def list_servers(self) -> list[Server]:
        raw = self._json(self._send("GET", "/servers/detail"), "servers")
        with understood(SERVICE, "Nova", "a server list"):
            return self._servers(raw)

    @staticmethod
    def _servers(raw: Any) -> list[Server]:
        return sorted(
            (Server(id=str(s["id"]), name=str(s.get("name") or ""), status=str(s.get("status") or "")) for s in raw),
            key=lambda s: (s.name.lower(), s.id),
        )

    def attach_volume(self, server_id: str, volume_id: str) -> ServerAttachment:
        response = self._send(
            "POST", f"/servers/{server_id}/os-volume_attachments", {"volumeAttachment": {"volumeId": volume_id}}
        )
        try:
            raw = self._json(response, "volumeAttachment")
            with understood(SERVICE, "Nova", "a volume attachment"):
                return self._attachment(raw, response, server_id, volume_id)
        except CloudError as exc:
            # Nova said yes (2xx) in words volpanel cannot read: the attach is under way all the same.
            exc.maybe_delivered = True
            raise

    @staticmethod
    def _attachment(raw: Any, response: Any, server_id: str, volume_id: str) -> ServerAttachment:
        return ServerAttachment(
            id=str(raw.get("id", "")), server_id=str(raw.get("serverId", server_id)),
            volume_id=str(raw.get("volumeId", volume_id)), device=str(raw.get("device") or ""),
            request_id=request_id_of(response),
        )

    def detach_volume(self, server_id: str, volume_id: str) -> str:
        response = self._send("DELETE", f"/servers/{server_id}/os-volume_attachments/{volume_id}")
        return request_id_of(response)

    def instance_actions(self, server_id: str) -> list[InstanceAction]:
        raw = self._json(self._send("GET", f"/servers/{server_id}/os-instance-actions"), "instanceActions")
        with understood(SERVICE, "Nova", "an instance action list"):
            return self._actions(raw)

    @staticmethod
    def _actions(raw: Any) -> list[InstanceAction]:
        return [
            InstanceAction(
                action=str(a.get("action", "")), request_id=str(a.get("request_id", "")),
                start_time=str(a.get("start_time", "")), message=str(a.get("message") or ""),
            )
            for a in raw
        ]
