"""templatetags.volpanel_tags: the `when` tag, times both ways."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template
from django.utils.timesince import timesince

from volpanel.templatetags.volpanel_tags import _since

NOW = datetime(2026, 12, 4, 14, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("seconds", [-5, 0, 59, 60, 61, 3599, 3600, 7261, 86399, 86400, 6 * 86400 + 1, 604800,
                                     27 * 86400 + 86399, 28 * 86400, 31 * 86400, 59 * 86400, 365 * 86400,
                                     800 * 86400])
def test_it_says_how_long_ago_as_django_s_timesince_does(seconds: int) -> None:
    moment = NOW - timedelta(seconds=seconds)
    assert _since(moment, NOW) == timesince(moment, NOW, depth=1)


def test_every_minute_of_the_last_four_weeks_reads_as_django_s() -> None:
    for minutes in range(0, 28 * 24 * 60, 7):
        moment = NOW - timedelta(minutes=minutes, seconds=13)
        assert _since(moment, NOW) == timesince(moment, NOW, depth=1)


def test_the_tag_gives_the_utc_time_and_how_long_ago_and_escapes_what_is_not_a_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from volpanel.templatetags import volpanel_tags

    monkeypatch.setattr(volpanel_tags.timezone, "now", lambda: NOW)
    template = Template("{% load volpanel_tags %}{% when value %}")
    html = template.render(Context({"value": datetime(2026, 12, 4, 15, 58, 0, tzinfo=UTC) - timedelta(hours=2)}))
    assert html == ('<time datetime="2026-12-04T13:58:00+00:00">2026-12-04 13:58:00 UTC</time> '
                    '<small class="ago">(2\xa0minutes ago)</small>')
    naive = template.render(Context({"value": "2026-12-04T13:59:30"}))  # Cinder's UTC without a zone
    assert "13:59:30 UTC" in naive and "(just now)" in naive
    assert template.render(Context({"value": "<b>soon</b>"})) == "&lt;b&gt;soon&lt;/b&gt;"
    assert template.render(Context({"value": None})) == "—"
