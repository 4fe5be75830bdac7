"""Exports of the current filter — CSV, JSON Lines, CADF events as JSON Lines — streamed in keyset batches so
memory stays the same whatever the row count."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import prefetch_related_objects

from volpanel.audit import cadf
from volpanel.audit.models import REPAIRABLE_OUTCOMES, AuditEntry, AuditEntryQuerySet, jsonable
from volpanel.audit.query import batches

BATCH_SIZE = 2000

COLUMNS = (
    "uuid", "requested_at", "answered_at", "settled_at", "actor_id", "actor_name", "actor_domain", "project_id",
    "project_name", "is_admin", "source_ip", "user_agent", "cloud", "volume_id", "volume_name", "action",
    "parameters", "microversion", "server_id", "attachment_id", "snapshot_id", "image_id", "outcome",
    "http_status", "request_id", "fault_name", "detail", "status_before", "status_after",
    # Admin actions (issue 16): the volume's project, the admin's reason, and the repair links both ways (the
    # failed row's uuid on its repair; the repairs' uuids on the failed row).
    "volume_project_id", "reason", "repairs", "repaired_by",
)
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection"), and Excel and
# LibreOffice skip leading spaces and other blanks first: " =1+1" and "\n@SUM(1)" are formulas too. The
# full-width forms count as well: some spreadsheets read them as their ASCII twins.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")
BLANKS = ("\t", "\r", "\n")


def _blank(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) in {"Cc", "Cf", "Zs", "Zl", "Zp"}


# Every character a spreadsheet might skip before it looks for a formula: whitespace, controls, and invisible
# format characters such as the zero-width space and the byte-order mark.
_BLANK_CHARS = "".join(chr(code) for code in range(0x3000 + 1) if _blank(chr(code))) + "\ufeff"


def _value(entry: AuditEntry, name: str) -> Any:
    if name == "repairs":
        return entry.repairs_id
    if name == "repaired_by":
        return repaired_by(entry)
    return getattr(entry, name)


def repaired_by(entry: AuditEntry) -> list[str]:
    """The uuids of the row's repairs, oldest first (prefetched per batch by with_repairs)."""
    return [str(r.uuid) for r in sorted(entry.repaired_by.all(), key=lambda r: (r.requested_at, r.pk))]


def record(entry: AuditEntry) -> dict[str, Any]:
    return {name: jsonable(_value(entry, name)) for name in COLUMNS}


def with_repairs(rows: list[AuditEntry]) -> list[AuditEntry]:
    """A batch with each row's repairs fetched in one query, not one per row. Only a failed, rejected or unknown
    row can have been repaired (its Repair link is the only way to one), so a batch with none asks nothing more."""
    repairable = [r for r in rows if r.outcome in REPAIRABLE_OUTCOMES]
    prefetch_related_objects(repairable, "repaired_by")
    for row in rows:
        if row.outcome not in REPAIRABLE_OUTCOMES:
            row._prefetched_objects_cache = {"repaired_by": AuditEntry.objects.none()}  # type: ignore[attr-defined]
    return rows


def spreadsheet_safe(value: Any) -> str:
    text = "" if value is None else (json.dumps(value, sort_keys=True, ensure_ascii=False)
                                     if isinstance(value, (dict, list)) else str(value))
    # A leading apostrophe makes the cell text; the value stays readable and nothing is lost.
    unblanked = text.lstrip(_BLANK_CHARS)
    return "'" + text if text.startswith(BLANKS) or unblanked.startswith(FORMULA_PREFIXES) else text


def _csv_batch(rows: list[AuditEntry], header: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(COLUMNS)
    for entry in rows:
        data = record(entry)
        writer.writerow([spreadsheet_safe(data[name]) for name in COLUMNS])
    return out.getvalue()


def _lines(rows: list[AuditEntry], make: Callable[[AuditEntry], dict[str, Any]]) -> str:
    return "".join(json.dumps(make(entry), ensure_ascii=False, sort_keys=True) + "\n" for entry in rows)


@dataclass(frozen=True)
class Format:
    name: str
    extension: str
    content_type: str
    render: Callable[[list[AuditEntry], bool], str]  # a batch, and whether it is the first


FORMATS = {
    "csv": Format("csv", "csv", "text/csv; charset=utf-8", _csv_batch),
    "jsonl": Format("jsonl", "jsonl", "application/jsonl; charset=utf-8", lambda rows, _: _lines(rows, record)),
    "cadf": Format("cadf", "cadf.jsonl", "application/jsonl; charset=utf-8",
                   lambda rows, _: _lines(rows, cadf.event)),
}


def filename(fmt: Format, now: datetime) -> str:
    return f"volpanel-audit-{now.strftime('%Y%m%dT%H%M%SZ')}.{fmt.extension}"


def chunks(fmt: Format, rows: AuditEntryQuerySet, batch_size: int | None = None) -> Iterator[str]:
    """The export as text, one chunk per batch of rows (a CSV export of no rows is still its header)."""
    first = True
    for batch in batches(rows, batch_size or BATCH_SIZE):
        yield fmt.render(with_repairs(batch), first)
        first = False
    if first and fmt.name == "csv":
        yield fmt.render([], True)


async def achunks(fmt: Format, rows: AuditEntryQuerySet, batch_size: int | None = None) -> AsyncIterator[str]:
    """The same chunks for an ASGI server. Django would read a synchronous iterator into a list before sending
    it under ASGI, so each batch is fetched and rendered in a worker thread and sent as it is ready."""
    source = chunks(fmt, rows, batch_size)
    pull = sync_to_async(_next_chunk, thread_sensitive=True)
    while True:
        chunk = await pull(source)
        if chunk is None:
            return
        yield chunk


def _next_chunk(source: Iterator[str]) -> str | None:
    return next(source, None)
