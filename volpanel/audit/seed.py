"""Synthetic audit rows for benchmarks and demos (`manage.py seed_audit`): made-up users, projects, volumes,
actions and outcomes, written with their hash-chained events so verify_audit passes. Demo mode only: the chain
would vouch for rows that never happened."""

from __future__ import annotations

import ipaddress
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from volpanel.audit.chain import canonical_json, event_hash
from volpanel.audit.models import AuditChainHead, AuditEntry, AuditEvent, EventKind, Outcome
from volpanel.audit.reconciler import PENDING_REASON
from volpanel.volumes import actions

REFUSED = ("seed_audit writes made-up rows with a valid hash chain; it runs only against the demo cloud, and "
           "this process is configured for a real one (OS_AUTH_URL or OS_CLOUD).")

# How often each action and each outcome occurs: roughly a busy private cloud's week.
# The registry gives the weights; the draw order stays the one the seeding has always used, so a given --seed
# makes the same rows (and chain) as before, and kinds added later are drawn after these.
_DRAW_ORDER = ("os-extend", "server-attach", "server-detach", "os-attach", "os-detach", "os-retype",
               "os-volume_upload_image", "revert")
ACTIONS = [(kind.name, kind.seed_weight) for kind in sorted(
    actions.AUDITED.values(), key=lambda k: _DRAW_ORDER.index(k.name) if k.name in _DRAW_ORDER else len(_DRAW_ORDER))]
OUTCOMES = [(Outcome.SUCCEEDED, 78), (Outcome.FAILED, 5), (Outcome.REJECTED, 9), (Outcome.ERROR, 4),
            (Outcome.UNKNOWN, 4)]
REJECTIONS = [
    (400, "badRequest", "Invalid input for field/attribute new_size. Value: 1. 1 is less than the minimum of 2"),
    (403, "forbidden", "Policy doesn't allow volume:extend to be performed."),
    (409, "conflictingRequest", "Invalid volume: Volume status must be available or in-use to extend, but "
                                "current status is: attaching."),
    (413, "overLimit", "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes "
                       "quota. Requested 40G, quota is 1000G and 990G has been consumed."),
]
ERRORS = [("timeout", "Cinder did not answer in time."), ("connection", "Cinder could not be reached.")]
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Safari/605.1.15",
]
VOLUME_WORDS = ["data", "db", "logs", "backup", "scratch", "web", "cache", "archive", "build", "pg-wal"]
FIELDS = [f.name for f in AuditEntry._meta.concrete_fields if f.name not in ("id", "outcome")]
ENTRY_COLUMNS = [f.column for f in AuditEntry._meta.concrete_fields if f.column != "id"]
ENTRY_FIELDS = [f.name for f in AuditEntry._meta.concrete_fields if f.column != "id"]  # ENTRY_COLUMNS' fields
EVENT_COLUMNS = ["id", *(f.column for f in AuditEvent._meta.concrete_fields if f.column != "id")]

Step = tuple[str, str, dict[str, Any], datetime]  # a later event: kind, outcome, facts, time
Row = tuple[dict[str, Any], str, list[Step]]  # the fields as first written, the final outcome, the later events


class Refused(Exception):
    """Not in demo mode: made-up rows would enter a real trail."""


def _hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# --- what the rows refer to -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Volume:
    id: str
    name: str
    size: int
    snapshots: list[str]


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    users: list[tuple[str, str, bool]]  # id, name, is_admin
    servers: list[str]
    volumes: list[Volume] = field(default_factory=list)


class World:
    """Projects with their users, volumes, servers and snapshots."""

    def __init__(self, rng: random.Random, projects: int) -> None:
        self.projects: list[Project] = []
        for p in range(projects):
            project = Project(id=_hex(rng), name=f"project-{p:03d}",
                              users=[(_hex(rng), f"user{p:03d}-{u}", u == 0) for u in range(rng.randint(2, 8))],
                              servers=[_uuid(rng) for _ in range(rng.randint(2, 20))])
            for v in range(rng.randint(10, 120)):
                project.volumes.append(Volume(id=_uuid(rng), name=f"{rng.choice(VOLUME_WORDS)}-{v:03d}",
                                              size=rng.choice([1, 2, 5, 10, 20, 50, 100, 500]),
                                              snapshots=[_uuid(rng) for _ in range(rng.randint(0, 3))]))
            self.projects.append(project)


# --- what each kind of audited call records -------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    """One made-up call: the parameters services record, the row's own ids, and what the cloud's answer adds."""

    parameters: dict[str, Any] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)  # server_id, attachment_id, snapshot_id
    answer: dict[str, str] = field(default_factory=dict)  # attachment_id, image_id


def _extend(rng: random.Random, volume: Volume, server: str) -> Sample:
    return Sample({"new_size": volume.size + rng.randint(1, 50), "old_size": volume.size})


def _attach(rng: random.Random, volume: Volume, server: str) -> Sample:
    return Sample({"host_name": f"bm-{rng.randrange(100):02d}", "mountpoint": "/dev/vdb", "mode": "rw"})


def _detach(rng: random.Random, volume: Volume, server: str) -> Sample:
    attachment = _uuid(rng)
    return Sample({"attachment_id": attachment}, {"attachment_id": attachment})


def _server_attach(rng: random.Random, volume: Volume, server: str) -> Sample:
    return Sample({"server_id": server}, {"server_id": server}, {"attachment_id": _uuid(rng)})


def _server_detach(rng: random.Random, volume: Volume, server: str) -> Sample:
    attachment = _uuid(rng)
    return Sample({"attachment_id": attachment, "server_id": server},
                  {"server_id": server, "attachment_id": attachment})


def _retype(rng: random.Random, volume: Volume, server: str) -> Sample:
    return Sample({"new_type": rng.choice(["gold", "silver", "ssd"]), "old_type": "default",
                   "migration_policy": rng.choice(["never", "on-demand"])})


def _upload(rng: random.Random, volume: Volume, server: str) -> Sample:
    return Sample({"image_name": f"{volume.name}-image", "disk_format": "qcow2", "container_format": "bare",
                   "visibility": "private", "protected": False}, answer={"image_id": _uuid(rng)})


def _revert(rng: random.Random, volume: Volume, server: str) -> Sample:
    snapshot = rng.choice(volume.snapshots or [_uuid(rng)])
    return Sample({"snapshot_id": snapshot}, {"snapshot_id": snapshot})


# Keyed by the registry's names; a kind added to the registry without a sample is seeded with no parameters.
SAMPLES: dict[str, Callable[[random.Random, Volume, str], Sample]] = {
    actions.EXTEND.name: _extend,
    actions.ATTACH.name: _attach,
    actions.DETACH.name: _detach,
    actions.SERVER_ATTACH.name: _server_attach,
    actions.SERVER_DETACH.name: _server_detach,
    actions.RETYPE.name: _retype,
    actions.UPLOAD.name: _upload,
    actions.REVERT.name: _revert,
}


def _no_sample(rng: random.Random, volume: Volume, server: str) -> Sample:
    return Sample()


# --- writing --------------------------------------------------------------------------------------------------
def write(count: int, *, projects: int = 50, days: float = 365.0, seed: int = 1, batch: int = 5000,
          progress: Callable[[int], None] | None = None) -> None:
    """Insert `count` rows over `projects` projects, their request times spread over the last `days` days, in
    transactions of `batch` rows; `progress` hears the rows written so far after each. Raises Refused outside
    demo mode."""
    if not settings.DEMO_MODE:
        raise Refused(REFUSED)
    # Seeded by the trail's size as well, so a second run adds new rows instead of colliding with the first.
    existing = AuditEntry.objects.count()
    rng = random.Random(f"{seed}:{existing}")
    world = World(rng, projects)
    now = datetime.now(dt_timezone.utc).replace(microsecond=0)
    start, step = now - timedelta(days=days), timedelta(days=days) / count
    done = 0
    while done < count:
        size = min(batch, count - done)
        _insert([make_row(rng, world, start + step * (done + i) + step * rng.random()) for i in range(size)])
        done += size
        if progress is not None:
            progress(done)


def make_row(rng: random.Random, world: World, requested: datetime) -> Row:
    """One made-up row: its fields as first written, its final outcome, and the later steps."""
    project = rng.choice(world.projects)
    actor_id, actor_name, is_admin = rng.choice(project.users)
    volume = rng.choice(project.volumes)
    action = rng.choices([a for a, _ in ACTIONS], [w for _, w in ACTIONS])[0]
    outcome = rng.choices([o for o, _ in OUTCOMES], [w for _, w in OUTCOMES])[0]
    server = rng.choice(project.servers)
    row: dict[str, Any] = {name: "" for name in FIELDS}
    row.update({
        "uuid": _uuid(rng), "requested_at": requested, "answered_at": None, "settled_at": None,
        "actor_id": actor_id, "actor_name": actor_name, "actor_domain": "Default", "project_id": project.id,
        "project_name": project.name, "is_admin": is_admin, "user_agent": rng.choice(AGENTS),
        "source_ip": (f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" if rng.random() < .9
                      else ipaddress.IPv6Address(f"2001:db8::{rng.getrandbits(16):x}").compressed),
        "cloud": settings.OPENSTACK["auth_url"], "volume_id": volume.id, "volume_name": volume.name,
        "action": action, "http_status": None, "idempotency_key": _hex(rng),
        "volume_project_id": project.id, "repairs": None,
        "status_before": "in-use" if action in (actions.DETACH.name, actions.SERVER_DETACH.name) else "available",
    })
    sample = SAMPLES.get(action, _no_sample)(rng, volume, server)
    row["parameters"] = sample.parameters
    row.update(sample.ids)

    answered = requested + timedelta(microseconds=rng.randint(80_000, 900_000))
    settled = answered + timedelta(seconds=rng.uniform(1, 120))
    steps: list[Step] = []
    if outcome == Outcome.REJECTED:
        status, fault, message = rng.choice(REJECTIONS)
        steps.append((EventKind.SETTLED, outcome, {
            "answered_at": answered, "http_status": status, "request_id": f"req-{_uuid(rng)}",
            "fault_name": fault, "detail": message, "settled_at": answered, "status_after": row["status_before"]},
            answered))
    elif outcome == Outcome.ERROR:
        kind, message = rng.choice(ERRORS)
        steps.append((EventKind.SETTLED, outcome, {
            "answered_at": answered, "http_status": None, "request_id": "", "fault_name": kind,
            "detail": message, "settled_at": answered, "status_after": row["status_before"]}, answered))
    elif outcome == Outcome.UNKNOWN and rng.random() < 0.3:
        steps.append((EventKind.SETTLED, outcome, {"settled_at": settled, "detail": PENDING_REASON}, settled))
    else:
        steps.append((EventKind.ANSWERED, Outcome.ACCEPTED, {
            "answered_at": answered, "http_status": 202, "request_id": f"req-{_uuid(rng)}",
            "microversion": "3.71", **sample.answer}, answered))
        after = {actions.SERVER_ATTACH.name: "in-use", actions.ATTACH.name: "in-use"}.get(action, "available")
        if outcome == Outcome.SUCCEEDED:
            detail = "Settled."
        elif outcome == Outcome.FAILED:
            detail, after = "The volume is error_extending at its old size.", "error_extending"
        else:
            detail, after = "The volume no longer exists.", ""
        steps.append((EventKind.SETTLED, outcome, {"settled_at": settled, "detail": detail,
                                                   "status_after": after}, settled))
    return row, outcome, steps


def _insert(rows: list[Row]) -> None:
    """One batch in one transaction, written with plain INSERTs (COPY on PostgreSQL): the ORM's per-field
    preparation would cost more than everything else here."""
    sqlite = connection.vendor == "sqlite"

    def db_time(value: datetime | None) -> Any:
        # What Django's SQLite backend stores: naive UTC text; psycopg takes the aware datetime.
        return value if value is None or not sqlite else str(value.replace(tzinfo=None))

    with transaction.atomic():
        # The head lock keeps other writers out while this batch extends the chain.
        head = AuditChainHead.locked()
        entry_ids = _ids(AuditEntry, len(rows))
        prev = head.last_hash
        entry_rows: list[tuple[Any, ...]] = []
        event_rows: list[tuple[Any, ...]] = []
        for entry_id, (fields, outcome, steps) in zip(entry_ids, rows, strict=True):
            final = dict(fields)
            for _, _, facts, _ in steps:
                final.update(facts)
            final["outcome"] = outcome
            values = []
            for name in ENTRY_FIELDS:
                value = final[name]
                if isinstance(value, datetime):
                    value = db_time(value)
                elif name == "uuid":
                    value = uuid.UUID(value).hex if sqlite else value
                elif name == "parameters":
                    value = json.dumps(value)
                values.append(value)
            entry_rows.append((entry_id, *values))
            for kind, event_outcome, facts, at in [(EventKind.REQUESTED, Outcome.PENDING, fields,
                                                    fields["requested_at"]), *steps]:
                text = canonical_json({k: v.isoformat() if isinstance(v, datetime) else v for k, v in facts.items()})
                # Already canonical: hashed as it is, without parsing it back.
                digest = event_hash(prev, fields["uuid"], kind, event_outcome, text, at.isoformat())
                event_rows.append((entry_id, str(kind), str(event_outcome), text, db_time(at), prev, digest))
                prev = digest
        event_ids = _ids(AuditEvent, len(event_rows))
        _write(AuditEntry, ["id", *ENTRY_COLUMNS], entry_rows)
        _write(AuditEvent, EVENT_COLUMNS, [(i, *r) for i, r in zip(event_ids, event_rows, strict=True)])
        head.last_event_id = event_ids[-1]
        head.last_hash, head.events = prev, head.events + len(event_rows)
        head.save(update_fields=["last_event_id", "last_hash", "events"])


def _ids(model: type[Any], count: int) -> list[int]:
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Taken from the table's own sequence, so the application's inserts never collide with them.
            cursor.execute(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) "
                           f"FROM generate_series(1, %s)", [count])
            return [row[0] for row in cursor.fetchall()]
        # SQLite: the batch holds the database's write lock (BEGIN IMMEDIATE), so nobody else inserts.
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
        first = cursor.fetchone()[0] + 1
        return list(range(first, first + count))


def _write(model: type[Any], columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))})",
                               rows)
