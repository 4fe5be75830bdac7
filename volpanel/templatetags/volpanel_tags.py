"""Template helpers."""

from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.safestring import mark_safe
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


# Under four weeks no calendar month can have passed: the largest whole unit of the seconds is what Django's
# timesince(depth=1) says (in English, USE_I18N off), at a tenth of its cost; a History shows twenty of them.
_UNITS = ((604800, "week"), (86400, "day"), (3600, "hour"), (60, "minute"))
_FOUR_WEEKS = 28 * 86400


def _since(moment: datetime, now: datetime) -> str:
    seconds = (now - moment).total_seconds()
    if seconds >= _FOUR_WEEKS:
        return timesince(moment, now, depth=1)
    for size, unit in _UNITS:
        if seconds >= size:
            count = int(seconds // size)
            return f"{count}\xa0{unit}{'' if count == 1 else 's'}"
    return "0\xa0minutes"


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
    ago = _since(moment, timezone.now())
    relative = "just now" if ago.startswith("0\xa0") else f"{ago} ago"
    # Digits, letters and punctuation of our own formatting only: nothing to escape.
    return mark_safe(f'<time datetime="{moment.isoformat(timespec="seconds")}">'  # noqa: S308
                     f'{moment.strftime("%Y-%m-%d %H:%M:%S UTC")}</time> <small class="ago">({relative})</small>')
