"""Filters, free-text search and keyset paging of the audit trail (volpanel/audit/query.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.core import signing

from tests.audit.conftest import T0, make_row
from volpanel.audit import query
from volpanel.audit.models import AuditEntry
from volpanel.audit.query import CURSOR_SALT, Cursor, InvalidCursor, batches, page, parse_filters

pytestmark = pytest.mark.django_db


def names(rows: object) -> set[str]:
    return {e.volume_name for e in rows}  # type: ignore[attr-defined]


def test_it_applies_every_filter_and_the_search() -> None:
    vol = "6f1c1a4e-8f52-4c8e-9d5b-2f8b0d3c4a11"
    make_row(volume_name="a", actor_name="alice", actor_id="u-alice", at=T0)
    make_row(volume_name="b", actor_name="bob", actor_id="u-bob", project_id="p-other", project_name="other",
             at=T0 + timedelta(hours=1))
    make_row(volume_name="c-backup", volume_id=vol, action="os-retype", outcome="failed",
             request_id="req-0a5e8d4b-6a3c-4f0f-8b3e-0f1d2c3b4a59", at=T0 + timedelta(days=1))
    make_row(volume_name="d", outcome="rejected", at=T0 + timedelta(days=2, minutes=30))

    def match(**params: str) -> set[str]:
        flt = parse_filters(params)
        assert flt.errors == (), flt.errors
        return names(flt.rows())

    assert match() == {"a", "b", "c-backup", "d"}
    assert match(user="bob") == match(user="u-bob") == {"b"}
    assert match(project="other") == match(project="p-other") == {"b"}
    assert match(volume=vol.upper()) == {"c-backup"}
    assert match(action="os-retype") == {"c-backup"}
    assert match(outcome="rejected") == {"d"}
    assert match(outcome="failed", action="os-retype", volume=vol) == {"c-backup"}
    # Search: part of a name (any case), a whole volume id, a whole request id.
    assert match(q="BACK") == {"c-backup"}
    assert match(q=vol) == {"c-backup"}
    assert match(q="REQ-0A5E8D4B-6A3C-4F0F-8B3E-0F1D2C3B4A59") == {"c-backup"}
    assert match(q="nothing-like-it") == set()
    # Time range: dates are whole UTC days at either end; times may carry an offset; `until` keeps its minute.
    assert match(since="2026-11-21") == {"c-backup", "d"}
    assert match(until="2026-11-21") == {"a", "b", "c-backup"}
    assert match(since="2026-11-20", until="2026-11-20") == {"a", "b"}
    assert match(since="2026-11-20T12:30") == {"b", "c-backup", "d"}
    assert match(since="2026-11-20T13:30+01:00", until="2026-11-22T12:30") == {"b", "c-backup", "d"}
    assert match(until="2026-11-22T12:29") == {"a", "b", "c-backup"}
    assert match(until="2026-11-20T12:00:00Z") == {"a"}
    # An imported row's id that is not a UUID is still found whole, beside names that contain it.
    make_row(volume_name="legacy", volume_id="imported-42", at=T0 - timedelta(days=1))
    make_row(volume_name="imported-42-copy", at=T0 - timedelta(days=1))
    assert match(q="IMPORTED-42") == {"legacy", "imported-42-copy"}
    assert match(q="imported-4") == {"imported-42-copy"}


def test_it_explains_values_it_cannot_use_and_leaves_them_out() -> None:
    make_row(volume_name="a", at=T0)
    make_row(volume_name="b", outcome="failed", at=T0 + timedelta(days=3))
    cases = {
        "since=yesterday": "The from time “yesterday” is not a date or time: use YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC).",
        "until=2026-02-30": "The until time “2026-02-30” is not a date or time",
        "since=2026-11-20T25:00": "The from time “2026-11-20T25:00” is not a date or time",
        "since=2026-11-23&until=2026-11-21": "The until time is not after the from time: use a range that ends",
        "volume=data-01": "The volume id “data-01” is not a volume id: use the volume's UUID, or its name in Search.",
        "action=os-delete": "The action “os-delete” is not one volpanel records: use one from the list.",
        "outcome=exploded": "The outcome “exploded” is not one volpanel records",
        "user=" + "x" * 300: "The user filter is longer than any stored value: use at most 255 characters.",
        "q=a\x00b": "The search filter can use printable characters only; remove control characters.",
        "project=\x1b[31m": "The project filter can use printable characters only",
    }
    for typed, message in cases.items():
        params = dict(pair.split("=", 1) for pair in typed.split("&"))
        flt = parse_filters(params)
        assert len(flt.errors) == 1 and message in flt.errors[0], (typed, flt.errors)
        assert names(flt.rows()) == {"a", "b"}, typed  # the bad value filtered nothing
    # A bad value leaves the good ones applied, and is kept as typed so the form shows it back.
    flt = parse_filters({"outcome": "failed", "since": "soon"})
    assert names(flt.rows()) == {"b"} and flt.values["since"] == "soon"
    assert "since=soon" in flt.querystring() and "outcome=failed" in flt.querystring()


def test_it_pages_by_keyset_both_ways_without_losing_or_repeating_rows() -> None:
    # Ties on requested_at are ordered by id, so a page boundary inside a tie loses nothing.
    rows = [make_row(volume_name=f"v{i:02}", at=T0 + timedelta(minutes=i // 3)) for i in range(23)]
    expected = [e.pk for e in sorted(rows, key=lambda e: (e.requested_at, e.pk), reverse=True)]
    all_rows = AuditEntry.objects.all()
    first = page(all_rows, None, size=5)
    assert first.newer == "" and first.older
    seen, pages, current = [], [first], first
    seen += [e.pk for e in first.rows]
    while current.older:
        current = page(all_rows, Cursor.decode(current.older), size=5)
        pages.append(current)
        seen += [e.pk for e in current.rows]
    assert seen == expected and len(pages) == 5 and len(pages[-1].rows) == 3
    # Walking back with the newer cursors gives the same pages, the first one with no newer link.
    back = page(all_rows, Cursor.decode(pages[-1].newer), size=5)
    assert [e.pk for e in back.rows] == [e.pk for e in pages[-2].rows] and back.older and back.newer
    top = page(all_rows, Cursor.decode(pages[1].newer), size=5)
    assert [e.pk for e in top.rows] == expected[:5] and top.newer == ""
    # A row written while someone pages shows up going newer, and nothing is skipped.
    fresh = make_row(volume_name="fresh", at=T0 + timedelta(hours=1))
    top = page(all_rows, Cursor.decode(pages[1].newer), size=5)
    assert top.newer and [e.pk for e in page(all_rows, Cursor.decode(top.newer), size=5).rows] == [fresh.pk]
    assert page(AuditEntry.objects.none(), None).rows == []


def test_it_pages_a_name_search_past_its_walk_window_in_the_same_order(monkeypatch: pytest.MonkeyPatch) -> None:
    # Matches spread unevenly (many among the oldest rows, one among the newest, ties on time): with a window
    # of 4 rows, pages are taken partly by the bounded walk and partly from the candidates past it.
    monkeypatch.setattr(query, "SEARCH_WINDOW", 4)
    rows = [make_row(volume_name=f"{'find' if i < 14 or i == 27 else 'skip'}-{i:02}",
                     at=T0 + timedelta(minutes=i // 2)) for i in range(30)]
    expected = [e.pk for e in sorted(rows, key=lambda e: (e.requested_at, e.pk), reverse=True)
                if e.volume_name.startswith("find")]
    flt = parse_filters({"q": "FIND"})
    assert flt.searches_names and not parse_filters({"q": str(rows[0].volume_id)}).searches_names
    pages = [flt.page(None, size=4)]
    while pages[-1].older:
        pages.append(flt.page(Cursor.decode(pages[-1].older), size=4))
    assert [e.pk for p in pages for e in p.rows] == expected and len(pages) == 4 and pages[0].newer == ""
    back = [pages[-1]]
    while back[-1].newer:
        back.append(flt.page(Cursor.decode(back[-1].newer), size=4))
    assert [[e.pk for e in p.rows] for p in reversed(back)] == [[e.pk for e in p.rows] for p in pages]
    assert back[-1].older and back[-1].newer == ""
    whole = flt.page(None, size=15)
    assert [e.pk for e in whole.rows] == expected and whole.older == "" and whole.newer == ""


def test_it_refuses_cursors_it_did_not_sign() -> None:
    good = Cursor(T0, 7, "older").encode()
    assert Cursor.decode(good) == Cursor(T0, 7, "older")
    forged = signing.dumps(["older", T0.isoformat(), 7], salt="another purpose")
    unsigned_payload = good.rsplit(":", 1)[0] + ":AAAA"
    wrong_shape = signing.dumps(["sideways", T0.isoformat(), 7], salt=CURSOR_SALT)
    naive_time = signing.dumps(["older", "2026-11-20T12:00:00", 7], salt=CURSOR_SALT)
    for raw in ("", "garbage", good + "x", forged, unsigned_payload, wrong_shape, naive_time,
                signing.dumps("older", salt=CURSOR_SALT)):
        with pytest.raises(InvalidCursor, match="The page link is damaged or was not made by volpanel"):
            Cursor.decode(raw)


def test_it_reads_every_row_in_keyset_batches() -> None:
    rows = [make_row(volume_name=f"v{i}", at=T0 + timedelta(seconds=i % 4)) for i in range(11)]
    got = list(batches(AuditEntry.objects.all(), 4))
    assert [len(b) for b in got] == [4, 4, 3]
    order = [e.pk for b in got for e in b]
    assert order == [e.pk for e in sorted(rows, key=lambda e: (e.requested_at, e.pk), reverse=True)]
    assert [len(b) for b in batches(AuditEntry.objects.all(), 11)] == [11]
    assert list(batches(AuditEntry.objects.filter(volume_name="none"), 4)) == []
    assert datetime.now(dt_timezone.utc) > T0
