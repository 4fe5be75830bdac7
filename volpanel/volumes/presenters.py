"""Presentation of the volume page: the partials' context, the action panel shared by every viewer of one volume
state, and the sentences that announce an attempt's answer and outcome. No request, no cloud call: views and
streams both render from here."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from uuid import uuid4

from django.conf import settings
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from volpanel.audit.models import AuditEntry, Outcome
from volpanel.lib.memo import Memo
from volpanel.volumes import actions, rules
from volpanel.volumes.forms import VolumeActionForm
from volpanel.volumes.outcomes import EXTEND_GUIDANCE
from volpanel.volumes.selectors import VolumePage


def partials_context(page: VolumePage, history: Sequence[AuditEntry], *,
                     bound: VolumeActionForm | None = None, entry: AuditEntry | None = None) -> dict[str, Any]:
    """volume_context without the request: the status stream renders the same partials from a watcher's state.
    The action panel comes as `panel` (shared, to be personalised) unless a bound form must be shown in it."""
    watching = follows(page, history)
    context: dict[str, Any] = {
        "page": page,
        "volume": page.volume,
        "entry": entry,
        "history": history,
        "watching": watching,
        "server_names": page.server_names,
        "outcome_labels": dict(Outcome.choices),
        "extend_guidance": EXTEND_GUIDANCE,
        "nova_event_wait": settings.VOLPANEL_NOVA_EVENT_WAIT,
    }
    if bound is None:
        context["panel"] = action_panel(page)
    else:
        context.update(panel_context(page, bound))
    context["flash_level"], context["flash_text"] = describe(entry) if entry else ("", "")
    return context


def follows(page: VolumePage, history: Sequence[AuditEntry]) -> bool:
    """Whether the page follows the volume live: it is moving, or an attempt on it awaits its outcome."""
    return page.volume.is_transitional or any(not e.is_final for e in history)


def panel_context(page: VolumePage, bound: VolumeActionForm | None = None) -> dict[str, Any]:
    """What the `actions` partial reads: the tenant's actions this cloud offers, each with its availability and
    form (fresh keys for unbound ones)."""
    availability = actions.availability(page)
    forms: dict[str, VolumeActionForm] = {}
    shown = []
    for spec in actions.SPECS:
        posted = bound is not None and bound.action_name == spec.name
        # Left out (the services note says why) unless a stale form was just posted to it.
        if spec.audience != "tenant" or not (spec.offered(page.features) or posted):
            continue
        shown.append(spec)
        if bound is not None and posted:
            forms[spec.name] = bound
        elif availability[spec.name].enabled:
            forms[spec.name] = spec.bind(page, initial={"idempotency_key": uuid4().hex, **spec.initial(page)})
    return {
        "page": page,
        "volume": page.volume,
        "specs": shown,
        "availability": availability,
        "forms": forms,
        "open_action": bound.action_name if bound is not None else "",
        "services_note": services_note(page.features),
    }


@dataclass(frozen=True)
class Panel:
    """The action panel of one volume state, rendered with a placeholder CSRF token and placeholder form keys."""

    html: str
    keys: tuple[str, ...]

    def personal(self, csrf_token: str) -> SafeString:
        """This panel for one response: its CSRF token, and an idempotency key per form of its own (two viewers,
        or two loads by one, must never share a key: the second post would be taken for the first)."""
        html = self.html
        for key in self.keys:
            html = html.replace(key, uuid4().hex)
        return mark_safe(html.replace(CSRF_PLACEHOLDER, csrf_token))


# Stands in for the viewer's CSRF token in the shared render; random so no volume name can contain it.
CSRF_PLACEHOLDER = f"csrf-{secrets.token_hex(16)}"
# Rendering the forms' widgets is most of a volume page's server time. The panel depends only on the page
# facts in _panel_key, so a state's panel is rendered once and reused (page reloads, an action's answer, every
# stream of it) for at most PANEL_TTL seconds; a changed fact is a new key, never a stale panel. (The one thing
# in it that ages is the revert form's "n minutes ago" of the latest snapshot: it may lag by under a minute.)
PANEL_TTL = 60.0
_panels: Memo[str, Panel] = Memo("volumes.action_panels", PANEL_TTL, size=256)


def _panel_key(page: VolumePage) -> str:
    # Everything the partial reads (volume, quota, types, snapshots, servers, the cloud's features) but the
    # volume's updated_at, which it does not show: an action that left the volume as it was reuses its panel.
    facts = (replace(page.volume, updated_at=None), page.features, page.limits, page.types, page.snapshots,
             page.servers, page.servers_problem)
    return hashlib.blake2b(repr(facts).encode(), digest_size=16).hexdigest()


def action_panel(page: VolumePage) -> Panel:
    key = _panel_key(page)
    panel = _panels.get(key)
    if panel is None:
        context = panel_context(page)
        html = render_to_string("volpanel/volume.html#actions", {**context, "csrf_token": CSRF_PLACEHOLDER})
        panel = Panel(html, tuple(form.initial["idempotency_key"] for form in context["forms"].values()))
        _panels.put(key, panel)
    return panel


def services_note(features: rules.CloudFeatures) -> str:
    """One sentence for a cloud that runs without Compute or Image (storage-only deployments)."""
    missing = [name for name, present in (("Compute (Nova)", features.has_compute),
                                          ("Image (Glance)", features.has_image)) if not present]
    if not missing:
        return ""
    lost = []
    if not features.has_compute:
        lost.append("attaching to servers and Nova's view of an extend are not offered")
    if not features.has_image:
        lost.append("uploading to an image is not possible")
    return (f"This cloud has no {' and no '.join(missing)} service, so {' and '.join(lost)}. "
            "Attaching to a host and every other volume action work as usual.")


def describe(entry: AuditEntry, *, settled: bool = False) -> tuple[str, str]:
    """The flash level and sentence for an attempt's first answer, or (`settled`) for its final outcome as the
    stream announces it once the volume settles."""
    label = actions.label(entry.action)
    if settled and entry.outcome == Outcome.SUCCEEDED:
        return "success", f"{label} succeeded: {entry.detail}"
    if settled and entry.outcome == Outcome.FAILED:
        return "error", f"{label} failed: {entry.detail}"
    if settled and entry.outcome == Outcome.UNKNOWN:
        return "warning", f"{label}: volpanel could not follow it to the end. {entry.detail}"
    if entry.duplicate:
        return "info", (f"{label} was already submitted from this form (request {entry.request_id or 'pending'}); "
                        f"it was not sent again. Its outcome so far: {entry.get_outcome_display().lower()}.")
    # A fast cloud can settle the action before this page is rendered: the watcher may already have moved it on.
    if entry.outcome == Outcome.ACCEPTED:
        return "success", f"{label} accepted by the cloud. The status below follows the volume live."
    if entry.outcome == Outcome.SUCCEEDED:
        return "success", f"{label} accepted by the cloud and already done: {entry.detail}"
    if entry.outcome == Outcome.UNKNOWN and entry.answered_at is None:
        return "error", f"{label} sent, but the cloud did not answer: {entry.detail}"
    if entry.outcome in (Outcome.FAILED, Outcome.UNKNOWN):
        return "error", f"{label} accepted by the cloud, then {entry.get_outcome_display().lower()}: {entry.detail}"
    if entry.outcome == Outcome.REJECTED and (entry.http_status or 0) >= 500:
        return "error", (f"{label} failed inside the cloud (HTTP {entry.http_status}): {entry.detail} "
                         "Check the volume's status before trying again.")
    if entry.outcome == Outcome.REJECTED:
        return "error", f"{label} refused by the cloud: {entry.detail}"
    return "error", f"{label} did not reach the cloud: {entry.detail}"
