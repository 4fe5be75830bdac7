"""Actions per day by outcome, drawn as inline SVG with a table alongside (volpanel/audit/chart.py)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.test import Client

from tests.audit.conftest import T0, make_row
from volpanel.audit.chart import DEFAULT_DAYS, MAX_DAYS, build
from volpanel.audit.query import parse_filters

pytestmark = pytest.mark.django_db
TODAY = date(2026, 11, 22)


def seed() -> None:
    # 2026-11-20: 3 succeeded, 1 failed, 1 rejected (bob's); 11-21: 1 unknown, 1 accepted; 11-22 near midnight.
    for minutes in (0, 5, 10):
        make_row(at=T0 + timedelta(minutes=minutes))
    make_row(at=T0 + timedelta(hours=1), outcome="failed")
    make_row(at=T0 + timedelta(hours=2), outcome="rejected", actor_name="bob")
    make_row(at=T0 + timedelta(days=1), outcome="unknown")
    make_row(at=T0 + timedelta(days=1, hours=3), outcome="accepted")
    make_row(at=T0 + timedelta(days=1, hours=11, minutes=59, seconds=59), outcome="succeeded")  # 23:59:59
    make_row(at=T0 + timedelta(days=-40))  # outside the default window


def test_it_counts_actions_per_utc_day_by_outcome_for_the_filter() -> None:
    seed()
    chart = build(parse_filters({}), today=TODAY)
    assert (chart.start, chart.end, len(chart.days)) == (TODAY - timedelta(days=DEFAULT_DAYS - 1), TODAY, 30)
    by_day = {d.day: d.counts for d in chart.days}
    assert by_day[date(2026, 11, 20)] == {"succeeded": 3, "failed": 2, "unknown": 0, "moving": 0}
    assert by_day[date(2026, 11, 21)] == {"succeeded": 1, "failed": 0, "unknown": 1, "moving": 1}
    assert sum(d.total for d in chart.days) == chart.total == 8 and chart.peak == 5
    assert chart.totals == [("succeeded", "Succeeded", 4), ("failed", "Failed, rejected or error", 2),
                            ("unknown", "Unknown", 1), ("moving", "Pending or accepted (not settled yet)", 1)]
    # Bars stack to the day's total: the tallest is the busiest day, an empty day draws nothing.
    tallest = max(chart.days, key=lambda d: sum(s.height for s in d.segments))
    assert tallest.day == date(2026, 11, 20) and [s.count for s in tallest.segments] == [3, 2]
    assert by_day[TODAY] == {"succeeded": 0, "failed": 0, "unknown": 0, "moving": 0}
    # The filter applies to the chart, and its time range sets the days drawn.
    alice = build(parse_filters({"user": "alice", "outcome": "failed"}), today=TODAY)
    assert alice.total == 1 and {d.day: d.total for d in alice.days if d.total} == {date(2026, 11, 20): 1}
    ranged = build(parse_filters({"since": "2026-10-01", "until": "2026-10-31"}), today=TODAY)
    assert (ranged.start, ranged.end, ranged.total) == (date(2026, 10, 1), date(2026, 10, 31), 1)
    wide = build(parse_filters({"since": "2020-01-01"}), today=TODAY)
    assert wide.clamped and len(wide.days) == MAX_DAYS and wide.end == TODAY and wide.total == 9


def test_it_draws_an_accessible_svg_with_a_table_of_the_same_numbers(staff_client: Client) -> None:
    seed()
    body = staff_client.get("/audit/chart/?since=2026-11-20&until=2026-11-22").content.decode()
    svg = body[body.index('<svg class="chart-svg"'):body.index("</svg>", body.index('<svg class="chart-svg"'))]
    assert 'role="img"' in svg and 'aria-labelledby="chart-title chart-desc"' in svg
    assert "style=" not in svg and "<script" not in svg  # the CSP allows neither
    assert "Succeeded: 4. Failed, rejected or error: 2. Unknown: 1." in svg
    segments = re.findall(r'<rect class="seg seg-(\w+)"[^>]*data-count="(\d+)"><title>([^<]+)</title>', svg)
    assert ("succeeded", "3", "2026-11-20: 3 succeeded") in segments
    assert ("failed", "2", "2026-11-20: 2 failed, rejected or error") in segments
    assert ("moving", "1", "2026-11-21: 1 pending or accepted (not settled yet)") in segments
    # Each group has its own fill pattern, so colour is not the only thing telling them apart.
    assert len(set(re.findall(r'fill="url\(#pattern-(\w+)\)"', svg))) == 4
    assert "Succeeded: <strong>4</strong>" in body and "Unknown: <strong>1</strong>" in body
    table = body[body.index('data-testid="audit-chart-table"'):]
    row = re.search(r'<tr data-day="2026-11-20">(.*?)</tr>', table)
    assert row and re.findall(r"<td[^>]*>(\d+)</td>", row.group(1)) == ["3", "2", "0", "0", "5"]
    assert len(re.findall(r'<tr data-day="', table)) == 3
