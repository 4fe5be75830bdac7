"""Glance v2 subset: version discovery, image list/show/delete with Glance's visibility rules; images appear
here when Cinder uploads a volume."""

from __future__ import annotations

from typing import Any

from .keystone import authenticate
from .state import World, iso_z
from .web import HttpError, Request, Response, Router, empty_response, glance_error, json_response

VERSIONS = ["2.17", "2.16", "2.15", "2.14", "2.13", "2.12", "2.11", "2.10", "2.9", "2.8", "2.7", "2.6", "2.5",
            "2.4", "2.3", "2.2", "2.1", "2.0"]


def image_view(image: dict[str, Any]) -> dict[str, Any]:
    iid = image["id"]
    view: dict[str, Any] = {k: image[k] for k in (
        "name", "disk_format", "container_format", "visibility", "size", "virtual_size", "status", "checksum",
        "protected", "min_ram", "min_disk", "owner", "os_hidden", "os_hash_algo", "os_hash_value")}
    view.update({"id": iid, "created_at": iso_z(image["created_at"]), "updated_at": iso_z(image["updated_at"]),
                 "tags": list(image["tags"]), "self": f"/v2/images/{iid}", "file": f"/v2/images/{iid}/file",
                 "schema": "/v2/schemas/image"})
    if image["status"] == "active":
        view["stores"] = "fs"
    view.update(image["properties"])
    return view


def can_see(token: dict[str, Any], image: dict[str, Any]) -> bool:
    """Owner and admin see everything; others see public and community images (no members in the demo)."""
    if "admin" in token["roles"] or image["owner"] == token["project_id"]:
        return True
    return image["visibility"] in ("public", "community")


def _versions(base: str) -> dict[str, Any]:
    return {"versions": [{"id": f"v{v}", "status": "CURRENT" if i == 0 else "SUPPORTED",
                          "links": [{"rel": "self", "href": f"{base}/image/v2/"}]}
                         for i, v in enumerate(VERSIONS)]}


def root(world: World, req: Request) -> Response:
    return json_response(300, _versions(req.base_url))


def versions(world: World, req: Request) -> Response:
    return json_response(200, _versions(req.base_url))


def images_index(world: World, req: Request) -> Response:
    token = authenticate(world, req)
    wanted_visibility = req.q("visibility")
    images = [i for i in world.images.values() if can_see(token, i)]
    if wanted_visibility:
        images = [i for i in images if i["visibility"] == wanted_visibility]
    else:
        # Community images are listed only when asked for (or when they are one's own).
        images = [i for i in images if i["visibility"] != "community" or i["owner"] == token["project_id"]]
    for key in ("name", "status", "owner", "disk_format", "container_format"):
        value = req.q(key)
        if value is not None:
            images = [i for i in images if i[key] == value]
    images.sort(key=lambda i: i["created_at"], reverse=True)
    marker = req.q("marker")
    if marker:
        ids = [i["id"] for i in images]
        if marker not in ids:
            raise HttpError(glance_error(400, f"marker [{marker}] not found"))
        images = images[ids.index(marker) + 1:]
    body: dict[str, Any] = {"images": [], "first": "/v2/images", "schema": "/v2/schemas/images"}
    limit = req.q("limit")
    if limit is not None and limit.isdigit() and len(images) > int(limit):
        images = images[: int(limit)]
        body["next"] = f"/v2/images?marker={images[-1]['id']}&limit={limit}" if images else None
    body["images"] = [image_view(i) for i in images]
    return json_response(200, body)


def _get_image(world: World, token: dict[str, Any], image_id: str) -> dict[str, Any]:
    image = world.images.get(image_id)
    if image is None or not can_see(token, image):
        raise HttpError(glance_error(404, f"No image found with ID {image_id}"))
    return image


def image_show(world: World, req: Request, image_id: str) -> Response:
    token = authenticate(world, req)
    return json_response(200, image_view(_get_image(world, token, image_id)))


def image_delete(world: World, req: Request, image_id: str) -> Response:
    token = authenticate(world, req)
    image = _get_image(world, token, image_id)
    if image["owner"] != token["project_id"] and "admin" not in token["roles"]:
        raise HttpError(glance_error(403, "You are not permitted to delete this image."))
    if image["protected"]:
        raise HttpError(glance_error(403, f"Image {image_id} is protected and cannot be deleted."))
    del world.images[image_id]
    return empty_response(204, None)


def register(router: Router) -> None:
    router.add("GET", "/image", root)
    router.add("GET", "/image/versions", versions)
    router.add("GET", "/image/v2/images", images_index)
    router.add("GET", "/image/v2/images/{image_id}", image_show)
    router.add("DELETE", "/image/v2/images/{image_id}", image_delete)
