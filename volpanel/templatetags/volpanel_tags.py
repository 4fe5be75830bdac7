"""Template helpers."""

from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.timesince import timesince

from volpanel.lib import bidi
from volpanel.volumes import actions

register = template.Library()


@register.filter
def action_label(name: str) -> str:
    """`entry.action|action_label`: how History and the audit trail name an audited call (the action registry's)."""
    return actions.label(name)


@register.filter
def isolate(text: Any) -> str:
    """`name|isolate`: a tenant's name where <bdi> cannot go (<title>, <option>), in Unicode isolate marks."""
    return bidi.isolate(text)


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    """`mapping|get_item:key`: look up a dict entry whose key is in a variable."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.simple_tag
def when(value: Any) -> str:
    """A time both ways: the absolute UTC time (exact, for tickets) and how long ago it was (at a glance)."""
    moment = value if isinstance(value, datetime) else parse_datetime(str(value or ""))
    if moment is None:
        return str(value or "—")
    if timezone.is_naive(moment):
        # Cinder, Nova and Glance write UTC without saying so.
        moment = moment.replace(tzinfo=dt_timezone.utc)
    moment = moment.astimezone(dt_timezone.utc)
    ago = timesince(moment, timezone.now(), depth=1)
    relative = "just now" if ago.startswith("0\xa0") else f"{ago} ago"
    return format_html('<time datetime="{}">{}</time> <small class="ago">({})</small>',
                       moment.isoformat(timespec="seconds"), moment.strftime("%Y-%m-%d %H:%M:%S UTC"), relative)
