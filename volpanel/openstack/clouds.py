"""Named clouds from clouds.yaml (openstacksdk's format), read the way openstacksdk looks them up."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

import yaml

SEARCH_PATH = (
    Path.cwd() / "clouds.yaml",
    Path.home() / ".config" / "openstack" / "clouds.yaml",
    Path("/etc/openstack/clouds.yaml"),
)


class CloudsYamlError(ValueError):
    pass


class OpenStackSettings(TypedDict):
    """settings.OPENSTACK: how volpanel reaches the cloud (volpanel.cloud.cloud_config makes a CloudConfig of it)."""

    auth_url: str
    region_name: str | None
    interface: str
    user_domain_name: str
    project_domain_name: str
    verify: bool | str  # a CA bundle's path, or whether to verify TLS at all
    timeout: float
    total_timeout: float
    max_body_bytes: int


def load_cloud(name: str, path: str | None = None) -> dict[str, Any]:
    """The settings volpanel needs from cloud `name`: auth_url, region, interface, domains, TLS verification.
    Credentials in the file are ignored: every tenant logs in with their own."""
    candidates = [Path(path)] if path else [p for p in SEARCH_PATH if p.is_file()]
    if not candidates or not candidates[0].is_file():
        where = path or ", ".join(str(p) for p in SEARCH_PATH)
        raise CloudsYamlError(f"OS_CLOUD={name} is set but no clouds.yaml was found (looked in {where}).")
    source = candidates[0]
    try:
        data = yaml.safe_load(source.read_text()) or {}
    except yaml.YAMLError as exc:
        raise CloudsYamlError(f"{source} is not valid YAML: {exc}") from exc
    cloud = (data.get("clouds") or {}).get(name)
    if not isinstance(cloud, dict):
        known = ", ".join(sorted(data.get("clouds") or {})) or "none"
        raise CloudsYamlError(f"{source} has no cloud named {name!r} (it has: {known}).")
    auth = cloud.get("auth") or {}
    if not auth.get("auth_url"):
        raise CloudsYamlError(f"Cloud {name!r} in {source} has no auth.auth_url.")
    verify: bool | str = True
    if cloud.get("cacert"):
        verify = str(cloud["cacert"])
    elif cloud.get("verify") is False or cloud.get("insecure") is True:
        verify = False
    return {
        "auth_url": str(auth["auth_url"]).rstrip("/"),
        "region_name": cloud.get("region_name") or None,
        "interface": cloud.get("interface") or "public",
        "user_domain_name": auth.get("user_domain_name") or auth.get("domain_name") or None,
        "project_domain_name": auth.get("project_domain_name") or auth.get("domain_name") or None,
        "verify": verify,
        "source": str(source),
    }
