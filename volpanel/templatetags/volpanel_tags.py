"""Template helpers."""

from typing import Any

from django import template

register = template.Library()


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    """`mapping|get_item:key`: look up a dict entry whose key is in a variable."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None
