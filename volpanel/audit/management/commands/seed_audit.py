"""`manage.py seed_audit N`: insert N synthetic audit rows, with their hash-chained events, for benchmarks."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import random
import time
import uuid
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from volpanel.audit.models import (
    AuditChainHead, AuditEntry, AuditEvent, EventKind, Outcome, canonical_json,
)
from volpanel.audit.reconciler import PENDING_REASON
from volpanel.volumes import actions

# How often each action and each outcome occurs: roughly a busy private cloud's week.
ACTIONS = [(kind.name, kind.seed_weight) for kind in actions.AUDITED.values()]
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


def _hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class World:
    """Projects with their users, volumes, servers, snapshots and images: what the rows refer to."""

    def __init__(self, rng: random.Random, projects: int) -> None:
        self.projects = []
        for p in range(projects):
            project = {"id": _hex(rng), "name": f"project-{p:03d}",
                       "users": [(_hex(rng), f"user{p:03d}-{u}", u == 0) for u in range(rng.randint(2, 8))],
                       "volumes": [], "servers": [_uuid(rng) for _ in range(rng.randint(2, 20))]}
            for v in range(rng.randint(10, 120)):
                project["volumes"].append({"id": _uuid(rng), "name": f"{rng.choice(VOLUME_WORDS)}-{v:03d}",
                                           "size": rng.choice([1, 2, 5, 10, 20, 50, 100, 500]),
                                           "snapshots": [_uuid(rng) for _ in range(rng.randint(0, 3))]})
            self.projects.append(project)


class Command(BaseCommand):
    help = ("Insert N synthetic audit rows (mixed users, projects, volumes, actions, outcomes and times over the "
            "last D days) with their hash-chained events, so verify_audit still passes. For benchmarks and "
            "demos; never on a production trail.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("count", type=int, help="How many rows to insert.")
        parser.add_argument("--projects", type=int, default=50, help="Number of projects (default 50).")
        parser.add_argument("--days", type=float, default=365.0, help="Spread the rows over this many past days.")
        parser.add_argument("--seed", type=int, default=1, help="Random seed (same seed, same rows).")
        parser.add_argument("--batch", type=int, default=5000, help="Rows per transaction (default 5000).")

    def handle(self, *args: Any, **options: Any) -> None:
        count, projects, days, batch = options["count"], options["projects"], options["days"], options["batch"]
        if count < 1:
            raise CommandError("N must be at least 1.")
        if projects < 1:
            raise CommandError("--projects must be at least 1.")
        if days <= 0:
            raise CommandError("--days must be more than 0.")
        if batch < 1:
            raise CommandError("--batch must be at least 1.")
        # Seeded by the trail's size as well, so a second run adds new rows instead of colliding with the first.
        existing = AuditEntry.objects.count()
        rng = random.Random(f"{options['seed']}:{existing}")
        world = World(rng, projects)
        now = datetime.now(dt_timezone.utc).replace(microsecond=0)
        start, step = now - timedelta(days=days), timedelta(days=days) / count
        started = time.monotonic()
        done = 0
        while done < count:
            size = min(batch, count - done)
            rows = [self._row(rng, world, start + step * (done + i) + step * rng.random()) for i in range(size)]
            self._insert(rows)
            done += size
            if options["verbosity"] > 1:
                self.stdout.write(f"  {done} rows, {time.monotonic() - started:.1f} s")
        self.stdout.write(f"seed_audit: {count} rows in {time.monotonic() - started:.1f} s")

    # --- one row and its events ----------------------------------------------------------------------------
    def _row(self, rng: random.Random, world: World, requested: datetime) -> tuple[dict[str, Any], str,
                                                                                  list[tuple[str, str, dict[str, Any],
                                                                                             datetime]]]:
        """The row's fields as first written, its final outcome, and the later steps (kind, outcome, facts,
        time)."""
        project = rng.choice(world.projects)
        actor_id, actor_name, is_admin = rng.choice(project["users"])
        volume = rng.choice(project["volumes"])
        action = rng.choices([a for a, _ in ACTIONS], [w for _, w in ACTIONS])[0]
        outcome = rng.choices([o for o, _ in OUTCOMES], [w for _, w in OUTCOMES])[0]
        server = rng.choice(project["servers"])
        row: dict[str, Any] = {name: "" for name in FIELDS}
        row.update({
            "uuid": _uuid(rng), "requested_at": requested, "answered_at": None, "settled_at": None,
            "actor_id": actor_id, "actor_name": actor_name, "actor_domain": "Default", "project_id": project["id"],
            "project_name": project["name"], "is_admin": is_admin, "user_agent": rng.choice(AGENTS),
            "source_ip": (f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" if rng.random() < .9
                          else ipaddress.IPv6Address(f"2001:db8::{rng.getrandbits(16):x}").compressed),
            "cloud": settings.OPENSTACK["auth_url"], "volume_id": volume["id"], "volume_name": volume["name"],
            "action": action, "http_status": None, "idempotency_key": _hex(rng),
            "status_before": "in-use" if action in (actions.DETACH.name, actions.SERVER_DETACH.name) else "available",
        })
        answer: dict[str, Any] = {}
        if action == actions.EXTEND.name:
            row["parameters"] = {"new_size": volume["size"] + rng.randint(1, 50), "old_size": volume["size"]}
        elif action == actions.SERVER_ATTACH.name:
            row["parameters"], row["server_id"] = {"server_id": server}, server
            answer["attachment_id"] = _uuid(rng)
        elif action == actions.SERVER_DETACH.name:
            attachment = _uuid(rng)
            row["parameters"] = {"attachment_id": attachment, "server_id": server}
            row["server_id"], row["attachment_id"] = server, attachment
        elif action == actions.ATTACH.name:
            row["parameters"] = {"host_name": f"bm-{rng.randrange(100):02d}", "mountpoint": "/dev/vdb", "mode": "rw"}
        elif action == actions.DETACH.name:
            attachment = _uuid(rng)
            row["parameters"], row["attachment_id"] = {"attachment_id": attachment}, attachment
        elif action == actions.RETYPE.name:
            row["parameters"] = {"new_type": rng.choice(["gold", "silver", "ssd"]), "old_type": "default",
                                 "migration_policy": rng.choice(["never", "on-demand"])}
        elif action == actions.UPLOAD.name:
            row["parameters"] = {"image_name": f"{volume['name']}-image", "disk_format": "qcow2",
                                 "container_format": "bare", "visibility": "private", "protected": False}
            answer["image_id"] = _uuid(rng)
        else:
            snapshot = rng.choice(volume["snapshots"] or [_uuid(rng)])
            row["parameters"], row["snapshot_id"] = {"snapshot_id": snapshot}, snapshot

        answered = requested + timedelta(microseconds=rng.randint(80_000, 900_000))
        settled = answered + timedelta(seconds=rng.uniform(1, 120))
        steps: list[tuple[str, str, dict[str, Any], datetime]] = []
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
                "microversion": "3.71", **answer}, answered))
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

    def _insert(self, rows: list[tuple[dict[str, Any], str, list[tuple[str, str, dict[str, Any], datetime]]]]) -> None:
        """One batch in one transaction, written with plain INSERTs (COPY on PostgreSQL): the ORM's per-field
        preparation would cost more than everything else here."""
        sqlite = connection.vendor == "sqlite"

        def db_time(value: datetime | None) -> Any:
            # What Django's SQLite backend stores: naive UTC text; psycopg takes the aware datetime.
            return value if value is None or not sqlite else str(value.replace(tzinfo=None))

        with transaction.atomic():
            # The head lock keeps other writers out while this batch extends the chain.
            head = AuditChainHead.locked()
            entry_ids = self._ids(AuditEntry, len(rows))
            prev = head.last_hash
            entry_rows: list[tuple[Any, ...]] = []
            event_rows: list[tuple[Any, ...]] = []
            for entry_id, (fields, outcome, steps) in zip(entry_ids, rows):
                final = dict(fields)
                for _, _, facts, _ in steps:
                    final.update(facts)
                final["outcome"] = outcome
                values = []
                for name in ENTRY_COLUMNS:
                    value = final[name]
                    if isinstance(value, datetime):
                        value = db_time(value)
                    elif name == "uuid":
                        value = uuid.UUID(value).hex if sqlite else value
                    elif name == "parameters":
                        value = json.dumps(value)
                    values.append(value)
                entry_rows.append((entry_id, *values))
                entry_json = json.dumps(fields["uuid"])
                for kind, event_outcome, facts, at in [(EventKind.REQUESTED, Outcome.PENDING, fields,
                                                        fields["requested_at"]), *steps]:
                    text = canonical_json({k: v.isoformat() if isinstance(v, datetime) else v
                                           for k, v in facts.items()})
                    # The same bytes AuditEvent.compute_hash hashes (canonical JSON, keys in sorted order), built
                    # without parsing the facts back.
                    body = (f'{{"created_at":"{at.isoformat()}","entry":{entry_json},"facts":{text},'
                            f'"kind":"{kind}","outcome":"{event_outcome}"}}')
                    digest = hashlib.sha256((prev + body).encode()).hexdigest()
                    event_rows.append((entry_id, str(kind), str(event_outcome), text, db_time(at), prev, digest))
                    prev = digest
            event_ids = self._ids(AuditEvent, len(event_rows))
            self._write(AuditEntry, ["id", *ENTRY_COLUMNS], entry_rows)
            self._write(AuditEvent, EVENT_COLUMNS, [(i, *r) for i, r in zip(event_ids, event_rows)])
            head.last_event_id = event_ids[-1]
            head.last_hash, head.events = prev, head.events + len(event_rows)
            head.save(update_fields=["last_event_id", "last_hash", "events"])

    @staticmethod
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

    @staticmethod
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


ENTRY_COLUMNS = [f.column for f in AuditEntry._meta.concrete_fields if f.column != "id"]
EVENT_COLUMNS = ["id", *(f.column for f in AuditEvent._meta.concrete_fields if f.column != "id")]
