"""The audit hash chain's one hash: how an event's hash is computed (`event_hash`) from the previous hash and the
event's canonical JSON. The models chain their events with it, the seeding writes with it, and the walk
(audit/verify.py) checks with it. Imports nothing of volpanel."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from datetime import timezone as dt_timezone
from json.encoder import encode_basestring
from typing import Any

GENESIS_HASH = "0" * 64


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(dt_timezone.utc).isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=jsonable)


def event_hash(prev_hash: str, entry_uuid: str, kind: str, outcome: str, facts_text: str,
               created_at_iso: str) -> str:
    """SHA-256 of `prev_hash` followed by the canonical JSON of {created_at, entry, facts, kind, outcome}.
    `facts_text` must already be canonical JSON (`canonical_json`): it is placed in the body as it is, so a bulk
    writer that has just made it need not parse it back."""
    # What canonical_json makes of the whole body, built without a dumps call: keys in sorted order, no spaces,
    # strings through the escaper json.dumps(ensure_ascii=False) itself uses.
    body = (f'{{"created_at":{encode_basestring(created_at_iso)},"entry":{encode_basestring(entry_uuid)},'
            f'"facts":{facts_text},"kind":{encode_basestring(kind)},"outcome":{encode_basestring(outcome)}}}')
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def stored_event_hash(prev_hash: str, entry_uuid: str, kind: str, outcome: str, facts: str,
                      created_at_iso: str) -> str:
    """The hash of an event as stored: its facts text is parsed and made canonical again first, so the hash
    covers what the facts say rather than how they are spaced. Raises json.JSONDecodeError when they are not
    JSON."""
    return event_hash(prev_hash, entry_uuid, kind, outcome, canonical_json(json.loads(facts)), created_at_iso)
