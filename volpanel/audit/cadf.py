"""One audit row as a CADF event (DMTF Cloud Auditing Data Federation, the format of OpenStack's
keystonemiddleware audit and pycadf): the same field names, typeURIs and tag form, built from the row alone."""

from __future__ import annotations

from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any

from volpanel.audit.models import AuditEntry, Outcome
from volpanel.volumes import actions

TYPE_URI_EVENT = "http://schemas.dmtf.org/cloud/audit/1.0/event"
TYPE_URI_USER = "service/security/account/user"
TYPE_URI_VOLUME = "service/storage/block/volume"
TYPE_URI_OBSERVER = "service/dashboard"
OBSERVER_ID = "volpanel"

# CADF has four outcomes; ours says more, so the row's own outcome travels in an attachment as well.
# Keyed by the stored text (an Outcome member equals its value), as rows hold it.
CADF_OUTCOME: dict[str, str] = {
    Outcome.SUCCEEDED: "success",
    Outcome.FAILED: "failure",
    Outcome.REJECTED: "failure",
    Outcome.ERROR: "failure",
    Outcome.PENDING: "pending",
    Outcome.ACCEPTED: "pending",
    Outcome.UNKNOWN: "unknown",
}



def event_time(moment: datetime) -> str:
    # pycadf's timestamp form: microseconds and a numeric UTC offset.
    return moment.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


def request_path(entry: AuditEntry) -> str:
    """The API path the action went to, relative to the service's catalog endpoint."""
    kind = actions.AUDITED.get(entry.action)
    template = kind.api_path if kind else "/volumes/{volume_id}/action"
    return template.format(volume_id=entry.volume_id, server_id=entry.server_id, snapshot_id=entry.snapshot_id)


def cadf_action(entry: AuditEntry) -> str:
    """CADF's action taxonomy: the verb, then the API's own name for what was asked (keystonemiddleware's form for
    Cinder volume actions, e.g. `update/os-extend`), as the action registry gives it."""
    kind = actions.AUDITED.get(entry.action)
    return kind.cadf_action if kind else f"update/{entry.action}"


def _attachment(name: str, content: Any, type_uri: str = "mime:text/plain") -> dict[str, Any]:
    return {"typeURI": type_uri, "name": name, "content": content}


def event(entry: AuditEntry) -> dict[str, Any]:
    host: dict[str, str] = {}
    if entry.source_ip:
        host["address"] = entry.source_ip
    if entry.user_agent:
        host["agent"] = entry.user_agent
    initiator: dict[str, Any] = {
        "typeURI": TYPE_URI_USER,
        "id": entry.actor_id,
        "name": entry.actor_name,
        "project_id": entry.project_id,
    }
    if entry.actor_domain:
        initiator["domain"] = entry.actor_domain
    if host:
        initiator["host"] = host
    target: dict[str, Any] = {"typeURI": TYPE_URI_VOLUME, "id": entry.volume_id}
    if entry.volume_name:
        target["name"] = entry.volume_name
    if entry.volume_project_id:
        target["project_id"] = entry.volume_project_id  # an admin's action may be on another project's volume
    result: dict[str, Any] = {
        "typeURI": TYPE_URI_EVENT,
        "id": str(entry.uuid),
        "eventType": "activity",
        "eventTime": event_time(entry.requested_at),
        "action": cadf_action(entry),
        "outcome": CADF_OUTCOME.get(entry.outcome, "unknown"),
        "initiator": initiator,
        "target": target,
        "observer": {"typeURI": TYPE_URI_OBSERVER, "id": OBSERVER_ID, "name": "volpanel"},
        "requestPath": request_path(entry),
    }
    if entry.http_status:
        result["reason"] = {"reasonType": "HTTP", "reasonCode": str(entry.http_status)}
    attachments = [
        _attachment("volpanel_outcome", entry.outcome),
        _attachment("parameters", entry.parameters or {}, "mime:application/json"),
    ]
    if entry.request_id:
        result["tags"] = [f"correlation_id?value={entry.request_id}"]
        attachments.append(_attachment("request_id", entry.request_id))
    for name in ("fault_name", "detail", "status_before", "status_after", "microversion", "cloud"):
        value = getattr(entry, name)
        if value:
            attachments.append(_attachment(name, value))
    # Admin actions (issue 16): the reason, and the repair links both ways by audit row uuid (a CADF event's id).
    if entry.reason:
        attachments.append(_attachment("reason", entry.reason))
    if entry.repairs_id:
        attachments.append(_attachment("repairs", str(entry.repairs_id)))
    repairs = [str(r.uuid) for r in sorted(entry.repaired_by.all(), key=lambda r: (r.requested_at, r.pk))]
    if repairs:
        attachments.append(_attachment("repaired_by", repairs, "mime:application/json"))
    for name in ("answered_at", "settled_at"):
        value = getattr(entry, name)
        if value:
            attachments.append(_attachment(name, event_time(value)))
    result["attachments"] = attachments
    return result
