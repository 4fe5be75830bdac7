"""A page rendered while one of its fragments is still coming: the page around the fragment (its layout,
navigation, CSRF token and context processors) renders while the fragment's data is on its way (a Cinder GET on
another thread), and the fragment is rendered into its place once the data has come. On the volume list that takes
the layout, about as long as everything else the page does around the GET, off the page's wait.

The page's template leaves the place to `later.<fragment>`, and keeps the fragment a named partial, which is what
is rendered into it (the partial must need nothing from the context processors):

    {% if later.volumes %}{{ later.volumes }}{% else %}{% partialdef volumes inline %}…{% endpartialdef %}{% endif %}
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.template.loader import get_template, render_to_string
from django.utils.safestring import SafeString, mark_safe


class Later:
    """`template`'s page with its partial `fragment` left out (`render_around`, with the request's context
    processors), then completed (`fill`, the partial alone with its own context)."""

    def __init__(self, request: HttpRequest, template: str, fragment: str) -> None:
        self.request = request
        self.template = template
        self.fragment = fragment
        # A comment no template or cloud answer can contain: the page is split at it.
        self.marker: SafeString = mark_safe(f"<!--later:{fragment}:{secrets.token_hex(16)}-->")
        self._around: tuple[str, str] | None = None

    def render_around(self) -> None:
        html = render_to_string(self.template, {"later": {self.fragment: self.marker}}, self.request)
        before, found, after = html.partition(self.marker)
        if not found or self.marker in after:
            raise ImproperlyConfigured(f"{self.template} must show later.{self.fragment} once in place of its "
                                       f"partial '{self.fragment}'")
        self._around = (before, after)

    def fill(self, context: Mapping[str, Any]) -> str:
        """The whole page: what render_around rendered, with the partial rendered from `context` in its place."""
        if self._around is None:
            self.render_around()
        assert self._around is not None
        before, after = self._around
        return before + get_template(f"{self.template}#{self.fragment}").render(dict(context)) + after
