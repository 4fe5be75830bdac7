"""Glance v2 (subset): the image an upload creates, followed until it is active."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keystoneauth1 import session as ks_session

from volpanel.openstack.errors import CloudError, fault_from_response
from volpanel.openstack.session import CatalogAdapter, CloudConfig, call

SERVICE = "image"


@dataclass(frozen=True)
class Image:
    id: str
    name: str
    status: str
    disk_format: str
    size: int | None
    min_disk: int = 0  # GiB


class GlanceClient:
    def __init__(self, sess: ks_session.Session, config: CloudConfig) -> None:
        self._adapter = CatalogAdapter(
            sess, service_type="image", interface=config.interface, region_name=config.region_name,
            raise_exc=False,
        )

    def get_image(self, image_id: str) -> Image | None:
        """The image, or None once Glance no longer has it (a failed upload deletes it)."""
        response = call(SERVICE, lambda: self._adapter.get(f"/v2/images/{image_id}", raise_exc=False))
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise fault_from_response(SERVICE, response)
        try:
            return _image(response.json())
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CloudError("malformed", "Glance's image was not understood.", service=SERVICE) from exc

    def list_images(self, limit: int = 200) -> list[Image]:
        """The active images the project may use (its own, shared with it, public), newest first: one page of
        up to `limit`."""
        response = call(SERVICE, lambda: self._adapter.get(f"/v2/images?status=active&limit={limit}",
                                                           raise_exc=False))
        if response.status_code != 200:
            raise fault_from_response(SERVICE, response)
        try:
            return [_image(raw) for raw in response.json()["images"]]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CloudError("malformed", "Glance's image list was not understood.", service=SERVICE) from exc


def _image(raw: dict[str, Any]) -> Image:
    return Image(
        id=str(raw["id"]), name=str(raw.get("name") or ""), status=str(raw["status"]),
        disk_format=str(raw.get("disk_format") or ""),
        size=int(raw["size"]) if raw.get("size") is not None else None,
        min_disk=int(raw.get("min_disk") or 0),
    )
