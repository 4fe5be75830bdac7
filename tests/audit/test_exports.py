"""CSV, JSON Lines and CADF exports of the current filter, streamed in keyset batches (volpanel/audit/exports.py)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test import AsyncClient, Client
from django.test.utils import CaptureQueriesContext

from tests.audit.conftest import T0, make_row
from volpanel.audit import exports
from volpanel.audit.exports import COLUMNS, spreadsheet_safe
from volpanel.audit.models import AuditEntry

pytestmark = pytest.mark.django_db


def body(response: object) -> str:
    return b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]


def test_it_exports_the_filtered_rows_as_csv_with_formulas_defused(staff_client: Client) -> None:
    make_row(volume_name="=HYPERLINK(\"http://evil\",\"x\")", actor_name="@alice", at=T0,
             parameters={"image_name": "+cmd"}, request_id="req-1")
    make_row(volume_name="-2+3", at=T0 + timedelta(minutes=1), outcome="rejected")
    make_row(volume_name="plain, \"quoted\"\nnewline", at=T0 + timedelta(minutes=2))
    make_row(volume_name="bob's", actor_name="bob", at=T0 + timedelta(minutes=3))
    response = staff_client.get("/audit/export/csv/?since=2026-11-20&until=2026-11-20T12:02")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="volpanel-audit-')
    assert response["Content-Disposition"].endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(body(response))))
    assert [r["volume_name"] for r in rows] == ["plain, \"quoted\"\nnewline", "'-2+3",
                                                  "'=HYPERLINK(\"http://evil\",\"x\")"]
    first = rows[-1]
    assert first["actor_name"] == "'@alice" and first["outcome"] == "succeeded" and first["http_status"] == "202"
    assert json.loads(first["parameters"]) == {"image_name": "+cmd"}  # JSON text starts with {, not a formula
    assert first["requested_at"] == "2026-11-20T12:00:00+00:00" and first["request_id"] == "req-1"
    assert list(rows[0]) == list(COLUMNS)
    assert rows[1]["outcome"] == "rejected" and rows[1]["fault_name"] == "badRequest"
    assert [spreadsheet_safe(v) for v in ("=1", "+1", "-1", "@x", "\tx", "\rx", "a=1", 5, None)] == [
        "'=1", "'+1", "'-1", "'@x", "'\tx", "'\rx", "a=1", "5", ""]
    # A spreadsheet skips blanks before it looks for a formula: leading spaces, line breaks, no-break and
    # zero-width spaces, a byte-order mark; and the full-width signs read as their ASCII twins. Every cell.
    hidden = [" =1+1", "  +1", "\n-1", "\u00a0@SUM(A1)", "\u200b=1", "\ufeff=1", "\u3000=1", "\uff1d1+1", " \t=1"]
    assert [spreadsheet_safe(v) for v in hidden] == ["'" + v for v in hidden]
    assert [spreadsheet_safe(v) for v in ("a =1", "1-2", " plain", "{\"a\": \"=1\"}")] == [
        "a =1", "1-2", " plain", "{\"a\": \"=1\"}"]
    make_row(volume_name=" =1+1", actor_name="\n@x", request_id=" -req", at=T0 + timedelta(minutes=4))
    cells = list(csv.DictReader(io.StringIO(body(staff_client.get("/audit/export/csv/?since=2026-11-20T12:04")))))
    assert [(c["volume_name"], c["actor_name"], c["request_id"]) for c in cells] == [("' =1+1", "'\n@x", "' -req")]
    # No rows: still a header, so a spreadsheet opens it with its columns.
    empty = body(staff_client.get("/audit/export/csv/?user=nobody"))
    assert empty.strip().split(",") == list(COLUMNS)


def test_it_exports_json_lines_and_refuses_filters_it_cannot_apply(staff_client: Client) -> None:
    make_row(volume_name="one", at=T0, outcome="failed", source_ip="10.0.0.9")
    make_row(volume_name="two", at=T0 + timedelta(days=1), action="os-retype")
    response = staff_client.get("/audit/export/jsonl/?outcome=failed")
    assert response["Content-Type"] == "application/jsonl; charset=utf-8"
    assert response["Content-Disposition"].endswith('.jsonl"')
    lines = [json.loads(line) for line in body(response).splitlines()]
    assert len(lines) == 1 and set(lines[0]) == set(COLUMNS)
    row = lines[0]
    assert row["volume_name"] == "one" and row["outcome"] == "failed" and row["is_admin"] is False
    assert row["parameters"] == {"new_size": 11, "old_size": 10} and row["source_ip"] == "10.0.0.9"
    assert row["uuid"] == str(AuditEntry.objects.get(volume_name="one").uuid)
    assert [json.loads(x)["volume_name"] for x in body(staff_client.get("/audit/export/jsonl/")).splitlines()] \
        == ["two", "one"]
    refused = staff_client.get("/audit/export/jsonl/?since=last-week&outcome=failed")
    assert refused.status_code == 400 and not refused.streaming
    text = refused.content.decode()
    assert "Nothing exported" in text and "The from time “last-week” is not a date" in text
    assert staff_client.get("/audit/export/xlsx/").status_code == 404


def test_it_streams_in_keyset_batches_one_query_each(staff_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(25):
        make_row(volume_name=f"v{i:02}", at=T0 + timedelta(seconds=i // 2))
    monkeypatch.setattr(exports, "BATCH_SIZE", 10)
    response = staff_client.get("/audit/export/jsonl/")
    assert response.streaming and isinstance(response, StreamingHttpResponse)
    content = response.streaming_content
    assert isinstance(content, Iterator)
    with CaptureQueriesContext(connection) as queries:
        chunks = [chunk.decode() for chunk in content]
    selects = [q["sql"] for q in queries.captured_queries if "SELECT" in q["sql"]]
    # Three batches of at most 10 rows, each its own LIMITed query: memory holds one batch, whatever the total.
    assert len(chunks) == 3 and [c.count("\n") for c in chunks] == [10, 10, 5]
    assert len(selects) == 3 and all("LIMIT 10" in sql for sql in selects)
    names = [json.loads(line)["volume_name"] for c in chunks for line in c.splitlines()]
    assert names == [f"v{i:02}" for i in reversed(range(25))]


def test_it_streams_asynchronously_under_asgi(staff_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from asgiref.sync import async_to_sync

    for i in range(7):
        make_row(volume_name=f"a{i}", at=T0 + timedelta(minutes=i))
    monkeypatch.setattr(exports, "BATCH_SIZE", 3)
    client = AsyncClient()
    client.cookies = staff_client.cookies  # the staff session

    @async_to_sync
    async def fetch() -> tuple[StreamingHttpResponse, list[bytes]]:
        response = await client.get("/audit/export/cadf/")
        assert isinstance(response, StreamingHttpResponse)
        content = response.streaming_content
        assert isinstance(content, AsyncIterator)
        return response, [chunk async for chunk in content]

    response, chunks = fetch()
    # Under ASGI Django reads a synchronous iterator into one list before sending; this one stays a stream.
    assert response.status_code == 200 and response.is_async
    assert [c.count(b"\n") for c in chunks] == [3, 3, 1]
