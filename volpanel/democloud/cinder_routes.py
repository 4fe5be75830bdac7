"""Where each Cinder v3 URL goes; the template strings also name the /_demo/requests counters."""

from __future__ import annotations

from . import cinder as c
from . import cinder_project as p
from .cinder_actions import volume_action
from .web import Router


def register(router: Router) -> None:
    base = "/volume/v3/{project_id}"
    router.add("GET", "/volume", c.root)
    router.add("GET", "/volume/v3", c.v3_root)
    router.add("GET", f"{base}/volumes", c.volumes_index)
    router.add("POST", f"{base}/volumes", c.volume_create)
    router.add("GET", f"{base}/volumes/detail", c.volumes_detail)
    router.add("GET", f"{base}/volumes/{{volume_id}}", c.volume_show)
    router.add("PUT", f"{base}/volumes/{{volume_id}}", c.volume_update)
    router.add("DELETE", f"{base}/volumes/{{volume_id}}", c.volume_delete)
    router.add("POST", f"{base}/volumes/{{volume_id}}/action", volume_action)
    router.add("GET", f"{base}/snapshots", c.snapshots_index)
    router.add("POST", f"{base}/snapshots", c.snapshot_create)
    router.add("GET", f"{base}/snapshots/detail", c.snapshots_detail)
    router.add("GET", f"{base}/snapshots/{{snapshot_id}}", c.snapshot_show)
    router.add("DELETE", f"{base}/snapshots/{{snapshot_id}}", c.snapshot_delete)
    router.add("GET", f"{base}/types", p.types_index)
    router.add("GET", f"{base}/types/{{type_id}}", p.type_show)
    router.add("GET", f"{base}/limits", p.limits)
    router.add("GET", f"{base}/os-quota-sets/{{target_project}}", p.quota_show)
    router.add("GET", f"{base}/messages", p.messages_index)
    router.add("GET", f"{base}/messages/{{message_id}}", p.message_show)
    router.add("DELETE", f"{base}/messages/{{message_id}}", p.message_delete)
    router.add("GET", f"{base}/attachments", p.attachments_index)
    router.add("GET", f"{base}/attachments/detail", p.attachments_detail)
    router.add("GET", f"{base}/scheduler-stats/get_pools", p.scheduler_pools)
