"""lib.later: a page rendered around a fragment that comes later, then completed with it."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from volpanel.lib.later import Later

PAGE = "volpanel/volume_list.html"


def _request() -> object:
    request = RequestFactory().get("/volumes/")
    request.session = {}  # type: ignore[attr-defined]  # what the context processors read
    return request


@pytest.mark.django_db
def test_the_page_completed_later_is_the_page_rendered_at_once() -> None:
    from django.template.loader import render_to_string

    volumes = [{"id": "0b6c2f8e-5d1a-4a8e-9a51-3f7d2c1e0a99", "display_name": "<b>db</b>", "status": "in-use",
                "is_transitional": False, "size": 3, "volume_type": "gold", "attachments": []}]
    context = {"volumes": volumes, "project_name": "demo"}
    request = _request()
    page = Later(request, PAGE, "volumes")  # type: ignore[arg-type]
    page.render_around()
    later = page.fill(context)
    at_once = render_to_string(PAGE, context, _request())  # type: ignore[arg-type]
    assert "&lt;b&gt;db&lt;/b&gt;" in later and page.marker not in later
    # The same page but for the CSRF token each render masks afresh.
    strip = re.compile(r'(value="|X-CSRFToken": ")[^"]+"')
    assert strip.sub("", later) == strip.sub("", at_once)


@pytest.mark.django_db
def test_a_template_that_does_not_leave_the_place_is_refused() -> None:
    page = Later(_request(), "volpanel/login.html", "volumes")  # type: ignore[arg-type]
    with pytest.raises(ImproperlyConfigured, match="later.volumes"):
        page.render_around()
