"""What an admin asked for: filters parsed from a query string (bad values become messages, never 500s), the
queryset they select, and keyset paging over (requested_at, id) with signed, opaque cursors."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from datetime import timezone as dt_timezone
from typing import Literal, NamedTuple
from urllib.parse import urlencode
from uuid import UUID

from django.core import signing
from django.db import connections
from django.db.models import DateTimeField, ExpressionWrapper, F, Q, Value
from django.db.models.functions import StrIndex, Upper
from django.db.models.lookups import GreaterThan
from django.utils.dateparse import parse_date, parse_datetime

from volpanel.audit.models import AuditEntry, AuditEntryQuerySet, Outcome
from volpanel.volumes import actions

PAGE_SIZE = 50
# Rows of the trail a name-part search walks in keyset order before asking the trigram index (see _take).
SEARCH_WINDOW = 5000
# Every parameter the audit list understands, in the order links carry them.
FILTER_NAMES = ("user", "project", "volume", "action", "outcome", "since", "until", "q")
CURSOR_SALT = "volpanel.audit.cursor"
Direction = Literal["older", "newer"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ID_SHAPED = re.compile(r"^(req-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ](\d{2}):(\d{2})(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


class Search(NamedTuple):
    """One search written two ways that match the same rows: `indexed` as `icontains`, which the trigram index
    of migration 0004 serves; `scanned` with STRPOS, which no index serves, for a walk of the keyset index that
    must stay a walk (given a time range, PostgreSQL would otherwise read the trigram index's whole list for a
    common name part: 15 ms for `data-01` at 10⁶ rows, against 1 ms walking)."""

    indexed: Q
    scanned: Q


@dataclass(frozen=True)
class AuditFilter:
    """Parsed filters. `values` is what was typed (to refill the form and carry on links); the typed fields
    hold only what passed validation, and only those are applied."""

    values: dict[str, str]
    user: str = ""
    project: str = ""
    volume: str = ""
    action: str = ""
    outcome: str = ""
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive: a day or minute given as the end includes all of it
    q: str = ""
    errors: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not any(self.values.values())

    @property
    def searches_names(self) -> bool:
        """True for a search on part of a volume name, which no index holds in keyset order."""
        return bool(self.q) and not _ID_SHAPED.match(self.q.lower())

    def apply(self, rows: AuditEntryQuerySet, *, search: bool = True) -> AuditEntryQuerySet:
        if self.user:
            rows = rows.filter(Q(actor_name=self.user) | Q(actor_id=self.user))
        if self.project:
            rows = rows.filter(Q(project_name=self.project) | Q(project_id=self.project))
        if self.volume:
            rows = rows.filter(volume_id=self.volume)
        if self.action:
            rows = rows.filter(action=self.action)
        if self.outcome:
            rows = rows.filter(outcome=self.outcome)
        if self.since is not None:
            rows = rows.filter(requested_at__gte=self.since)
        if self.until is not None:
            rows = rows.filter(requested_at__lt=self.until)
        if self.q and search:
            rows = rows.filter(self._search(rows.db).indexed)
        return rows

    def _search(self, using: str) -> Search:
        ident = self.q.lower()
        by_id = Q(volume_id=ident) | Q(request_id=ident)
        if _ID_SHAPED.match(ident):
            # A whole volume or request id: the two indexed columns answer it; looking inside a million
            # names for a UUID would cost a scan and find nothing a person named that way.
            return Search(by_id, by_id)
        by_name = Search(Q(volume_name__icontains=self.q),
                         Q(GreaterThan(StrIndex(Upper("volume_name"), Upper(Value(self.q))), 0)))
        # Only imported rows carry ids that are not UUIDs, so a name part is almost never a whole id too. Two
        # index probes say so first, and the id terms stay out of the query when they match nothing: with them,
        # PostgreSQL cannot answer the chart's counts for a name part from the covering index of migration 0005
        # (it gathered every match through the trigram index, ~17,000 heap pages for `data-01` at 10⁶ rows).
        if AuditEntry.objects.using(using).filter(by_id).exists():
            return Search(by_name.indexed | by_id, by_name.scanned | by_id)
        return by_name

    def rows(self) -> AuditEntryQuerySet:
        return self.apply(AuditEntry.objects.all())

    def page(self, cursor: Cursor | None, size: int = PAGE_SIZE) -> Page:
        """The page of these rows at `cursor`; a name-part search is paged with a bounded walk (see `_take`)."""
        if self.searches_names:
            rows = self.apply(AuditEntry.objects.all(), search=False)
            return page(rows, cursor, size, search=self._search(rows.db))
        return page(self.rows(), cursor, size)

    def querystring(self, **extra: str) -> str:
        """The filters as typed (plus `extra`, e.g. a cursor), for links that keep them."""
        pairs = [(k, v) for k, v in self.values.items() if v]
        pairs += [(k, v) for k, v in extra.items() if v]
        return urlencode(pairs)


LABELS = {"user": "user", "project": "project", "q": "search", "since": "from", "until": "until"}


def _when(raw: str, name: str, *, end: bool) -> tuple[datetime | None, str]:
    """A UTC instant from a date or an ISO 8601 date-time, and an error message if it is neither.
    As the end of a range, a date means the whole day and a time to the minute the whole minute."""
    try:
        if len(raw) == 10:
            day = parse_date(raw)
            if day is not None:
                start = datetime.combine(day, time.min, tzinfo=dt_timezone.utc)
                return (start + timedelta(days=1) if end else start), ""
        match = _ISO_TIME.match(raw)
        moment = parse_datetime(raw) if match else None
    except ValueError:  # well-formed but impossible, such as 2026-02-30
        moment = None
    if moment is None:
        return None, (f"The {LABELS[name]} time “{raw[:40]}” is not a date or time: use YYYY-MM-DD or "
                      "YYYY-MM-DDTHH:MM (UTC). It was not applied.")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt_timezone.utc)
    moment = moment.astimezone(dt_timezone.utc)
    if end:
        assert match is not None
        moment += timedelta(minutes=1) if match.group(3) is None else (
            timedelta(seconds=1) if match.group(4) is None else timedelta(microseconds=1))
    return moment, ""


def parse_filters(params: Mapping[str, str]) -> AuditFilter:
    """Every message names the filter and says what it accepts; a value that cannot be used filters nothing."""
    values = {name: str(params.get(name, "") or "").strip() for name in FILTER_NAMES}
    errors: list[str] = []
    parsed: dict[str, object] = {}
    for name in ("user", "project", "q"):
        if _CONTROL.search(values[name]):
            # PostgreSQL refuses NUL in a query parameter, and no audit value holds a control character.
            errors.append(f"The {LABELS[name]} filter can use printable characters only; "
                          "remove control characters.")
        elif len(values[name]) > 255:
            errors.append(f"The {LABELS[name]} filter is longer than any stored value: use at most 255 "
                          "characters.")
        else:
            parsed[name] = values[name]
    if values["volume"]:
        try:
            parsed["volume"] = str(UUID(values["volume"]))
        except ValueError:
            errors.append(f"The volume id “{values['volume'][:40]}” is not a volume id: use the volume's UUID, "
                          "or its name in Search. It was not applied.")
    for name, choices in (("action", list(actions.AUDITED)), ("outcome", Outcome.values)):
        if values[name]:
            if values[name] in choices:
                parsed[name] = values[name]
            else:
                errors.append(f"The {name} “{values[name][:40]}” is not one volpanel records: use one from the "
                              "list. It was not applied.")
    for name in ("since", "until"):
        if values[name]:
            moment, error = _when(values[name], name, end=name == "until")
            if error:
                errors.append(error)
            else:
                parsed[name] = moment
    since, until = parsed.get("since"), parsed.get("until")
    if isinstance(since, datetime) and isinstance(until, datetime) and since >= until:
        errors.append("The until time is not after the from time: use a range that ends after it starts. "
                      "Neither limit was applied.")
        parsed.pop("since"), parsed.pop("until")
    return AuditFilter(values=values, errors=tuple(errors), **parsed)  # type: ignore[arg-type]


# --- keyset paging ----------------------------------------------------------------------------------------
class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    """A position between rows: the key of the row the next page starts after, and which way it goes."""

    requested_at: datetime
    id: int
    direction: Direction

    def encode(self) -> str:
        # Signed: a changed cursor is refused with a message instead of paging from a made-up position.
        return signing.dumps([self.direction, self.requested_at.isoformat(), self.id], salt=CURSOR_SALT)

    @classmethod
    def decode(cls, raw: str) -> Cursor:
        try:
            direction, when, pk = signing.loads(raw, salt=CURSOR_SALT)
            moment = datetime.fromisoformat(when)
            if direction not in ("older", "newer") or not isinstance(pk, int) or moment.tzinfo is None:
                raise ValueError(direction)
        except (signing.BadSignature, ValueError, TypeError):
            raise InvalidCursor("The page link is damaged or was not made by volpanel: use the Newer and Older "
                                "links. Showing the newest rows that match the filters instead.") from None
        return cls(moment, pk, direction)

    @classmethod
    def after(cls, entry: AuditEntry, direction: Direction) -> Cursor:
        return cls(entry.requested_at, entry.pk, direction)


def older_than(rows: AuditEntryQuerySet, requested_at: datetime, pk: int) -> AuditEntryQuerySet:
    # (requested_at, id) < (t, pk), written so the range on requested_at reaches the index.
    return rows.filter(requested_at__lte=requested_at).exclude(requested_at=requested_at, id__gte=pk)


def newer_than(rows: AuditEntryQuerySet, requested_at: datetime, pk: int) -> AuditEntryQuerySet:
    return rows.filter(requested_at__gte=requested_at).exclude(requested_at=requested_at, id__lte=pk)


Key = tuple[datetime, int]


def _past(rows: AuditEntryQuerySet, key: Key | None, newest_first: bool) -> AuditEntryQuerySet:
    """Rows strictly past `key` in the walking order (older when newest first, else newer)."""
    if key is None:
        return rows
    return older_than(rows, *key) if newest_first else newer_than(rows, *key)


def _take(rows: AuditEntryQuerySet, n: int, *, newest_first: bool = True, after: Key | None = None,
          search: Search | None = None) -> list[AuditEntry]:
    """Up to n rows past `after`, newest first or oldest first; with `search`, only the rows it matches."""
    order = ("-requested_at", "-id") if newest_first else ("requested_at", "id")
    if search is None:
        return list(_past(rows, after, newest_first).order_by(*order)[:n])
    # No index holds a name-part search in keyset order. Walking the keyset index and testing each name is quick
    # where matches are many, and PostgreSQL walks when it expects many; but it expects them spread evenly, so a
    # name found only in old rows (or fewer than n times) had the walk read the whole trail: 813 ms for 6,000
    # matches a year back at 10⁶ rows. So the walk stops after the next SEARCH_WINDOW rows of the trail (whatever
    # they hold), and matches past those come from the trigram index as candidates, sorted: a cost bounded by
    # the window plus the number of matches, never by the size of the trail.
    edge = list(_past(AuditEntry.objects.using(rows.db), after, newest_first).order_by(*order)
                .values_list("requested_at", "id")[SEARCH_WINDOW - 1:SEARCH_WINDOW])
    window = _past(rows.filter(search.scanned), after, newest_first)
    if not edge:  # fewer rows than the window are left: walk them all
        return list(window.order_by(*order)[:n])
    at, pk = edge[0]
    # Up to and including the edge row: ids are integers, so "not past (at, pk)" is "before (at, pk ± 1)".
    window = newer_than(window, at, pk - 1) if newest_first else older_than(window, at, pk + 1)
    found = list(window.order_by(*order)[:n])
    if len(found) == n:
        return found
    rest = _past(rows.filter(search.indexed), (at, pk), newest_first)
    if connections[rows.db].vendor == "postgresql":
        # Sorting on an expression rather than the column keeps PostgreSQL from walking the keyset index again
        # (the very walk bounded above): it gathers the candidates from the trigram index and sorts them.
        moment = ExpressionWrapper(F("requested_at") + Value(timedelta(0)), output_field=DateTimeField())
        rest = rest.order_by(moment.desc() if newest_first else moment.asc(), order[1])
    else:
        rest = rest.order_by(*order)
    return found + list(rest[: n - len(found)])


@dataclass
class Page:
    rows: list[AuditEntry]
    newer: str = ""  # encoded cursors, empty when there is nothing that way
    older: str = ""


def page(rows: AuditEntryQuerySet, cursor: Cursor | None, size: int = PAGE_SIZE, *,
         search: Search | None = None) -> Page:
    """One page of `rows` (that `search` matches, when given), newest first. Each page costs one ordered, limited
    query plus one for a single row the other way."""
    if cursor is None:
        found = _take(rows, size + 1, search=search)
        more_older, more_newer = len(found) > size, False
        found = found[:size]
    elif cursor.direction == "older":
        found = _take(rows, size + 1, after=(cursor.requested_at, cursor.id), search=search)
        more_older = len(found) > size
        found = found[:size]
        more_newer = bool(found) and bool(_take(rows, 1, newest_first=False, search=search,
                                                after=(found[0].requested_at, found[0].pk)))
    else:
        found = _take(rows, size + 1, newest_first=False, after=(cursor.requested_at, cursor.id), search=search)
        more_newer = len(found) > size
        found = list(reversed(found[:size]))
        more_older = bool(found) and bool(_take(rows, 1, search=search,
                                                after=(found[-1].requested_at, found[-1].pk)))
    return Page(
        rows=found,
        newer=Cursor.after(found[0], "newer").encode() if more_newer else "",
        older=Cursor.after(found[-1], "older").encode() if more_older else "",
    )


def batches(rows: AuditEntryQuerySet, size: int) -> Iterator[list[AuditEntry]]:
    """Every row, newest first, `size` at a time: each batch is its own short keyset query, so an export of
    any length holds one batch in memory and no transaction or server-side cursor stays open between them."""
    rows = rows.order_by("-requested_at", "-id")
    window = rows
    while True:
        batch = list(window[:size].iterator(chunk_size=size))
        if not batch:
            return
        yield batch
        if len(batch) < size:
            return
        last = batch[-1]
        window = older_than(rows, last.requested_at, last.pk)
