"""Actions per day by outcome for the current filter, as numbers and as an inline SVG stacked bar chart drawn on
the server (no script: the pages' CSP allows none inline, and the chart needs none)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from datetime import timezone as dt_timezone
from typing import Any

from django.db import connections
from django.db.models import Count
from django.db.models.functions import Substr, TruncDate
from django.utils import timezone

from volpanel.audit.models import Outcome
from volpanel.audit.query import AuditFilter

DEFAULT_DAYS = 30
MAX_DAYS = 366

# Seven outcomes are too many to tell apart in a small chart: four groups, each with its own fill pattern so
# colour is not the only signal, and the legend says which outcomes each holds.
GROUPS: list[tuple[str, str, tuple[str, ...]]] = [
    ("succeeded", "Succeeded", (Outcome.SUCCEEDED,)),
    ("failed", "Failed, rejected or error", (Outcome.FAILED, Outcome.REJECTED, Outcome.ERROR)),
    ("unknown", "Unknown", (Outcome.UNKNOWN,)),
    ("moving", "Pending or accepted (not settled yet)", (Outcome.PENDING, Outcome.ACCEPTED)),
]
GROUP_OF = {outcome: key for key, _, outcomes in GROUPS for outcome in outcomes}

# Drawing area, in SVG user units (the SVG scales to the width of the page).
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 180, 36, 22, 8


@dataclass(frozen=True)
class Segment:
    group: str
    label: str
    count: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Day:
    day: date
    counts: dict[str, int]  # by group key
    total: int
    segments: list[Segment]
    label_x: float
    show_label: bool


@dataclass(frozen=True)
class Chart:
    start: date
    end: date  # inclusive
    days: list[Day]
    totals: list[tuple[str, str, int]]  # group key, label, count
    total: int
    peak: int
    ticks: list[tuple[float, int]]  # y, value
    clamped: bool
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    baseline: int = HEIGHT - BOTTOM


def window(flt: AuditFilter, today: date) -> tuple[date, date, bool]:
    """The days to draw: the filter's time range if it has one, else the last DEFAULT_DAYS days up to today;
    never more than MAX_DAYS (the latest ones are kept, and the chart says so)."""
    end = (flt.until - timedelta(microseconds=1)).date() if flt.until else today
    start = flt.since.date() if flt.since else end - timedelta(days=DEFAULT_DAYS - 1)
    if flt.until is None and flt.since is not None and start > end:
        end = start
    clamped = (end - start).days + 1 > MAX_DAYS
    if clamped:
        start = end - timedelta(days=MAX_DAYS - 1)
    return start, end, clamped


def counts(flt: AuditFilter, start: date, end: date) -> dict[tuple[date, str], int]:
    """Rows per (UTC day, outcome) inside the window and the filter: one GROUP BY query."""
    low = datetime.combine(start, time.min, tzinfo=dt_timezone.utc)
    high = datetime.combine(end + timedelta(days=1), time.min, tzinfo=dt_timezone.utc)
    rows = flt.rows().filter(requested_at__gte=low, requested_at__lt=high)
    if connections[rows.db].vendor == "sqlite":
        # SQLite keeps UTC datetimes as ISO text, so the day is its first ten characters; TruncDate would call
        # a Python function for every row (ten times slower at a million rows).
        day: Any = Substr("requested_at", 1, 10)
    else:
        day = TruncDate("requested_at", tzinfo=dt_timezone.utc)
    # COUNT(*), not COUNT(id): the count then reads only the (requested_at, outcome) index.
    grouped = rows.annotate(day=day).values("day", "outcome").annotate(n=Count("*")).order_by()
    return {(_as_date(row["day"]), row["outcome"]): row["n"] for row in grouped}


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 × 10ⁿ at or above value, so the axis reads in round numbers."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def build(flt: AuditFilter, today: date | None = None) -> Chart:
    today = today or timezone.now().astimezone(dt_timezone.utc).date()
    start, end, clamped = window(flt, today)
    found = counts(flt, start, end)
    n_days = (end - start).days + 1
    per_day: list[tuple[date, dict[str, int]]] = []
    for i in range(n_days):
        day = start + timedelta(days=i)
        by_group = {key: 0 for key, _, _ in GROUPS}
        for outcome, group in GROUP_OF.items():
            by_group[group] += found.get((day, outcome), 0)
        per_day.append((day, by_group))
    peak = max((sum(c.values()) for _, c in per_day), default=0)
    top = _nice_ceiling(max(peak, 1))
    plot_w, plot_h = WIDTH - LEFT - 4, HEIGHT - BOTTOM - TOP
    slot = plot_w / n_days
    bar_w = max(slot * 0.75, 1.0)
    label_every = max(1, round(n_days / 6))
    days = []
    for i, (day, by_group) in enumerate(per_day):
        x = LEFT + i * slot + (slot - bar_w) / 2
        y = float(HEIGHT - BOTTOM)
        segments = []
        for key, label, _ in GROUPS:
            count = by_group[key]
            if not count:
                continue
            h = plot_h * count / top
            y -= h
            segments.append(Segment(key, label, count, round(x, 2), round(y, 2), round(bar_w, 2), round(h, 2)))
        days.append(Day(day, by_group, sum(by_group.values()), segments, round(x + bar_w / 2, 2),
                        show_label=(n_days - 1 - i) % label_every == 0))
    totals = [(key, label, sum(c[key] for _, c in per_day)) for key, label, _ in GROUPS]
    ticks = [(round(HEIGHT - BOTTOM - plot_h * v / top, 2), v) for v in sorted({0, top // 2, top})]
    return Chart(start, end, days, totals, sum(t for _, _, t in totals), peak, ticks, clamped)
