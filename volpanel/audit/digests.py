"""Signed digests of the audit chain (like CloudTrail's digest files): each records the chain head (last event id,
its hash, the event count) at a moment, links to the previous digest by its SHA-256 and is signed with
HMAC-SHA256. Kept outside the database, they catch a chain rebuilt from a tampered row on."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from volpanel.audit.chain import canonical_json
from volpanel.audit.models import AuditChainHead

PREFIX, SUFFIX = "audit-digest-", ".json"
VERSION = 1
FIELDS = ("version", "created_at", "head_event_id", "head_hash", "events", "previous_digest",
          "previous_digest_sha256")


class DigestError(Exception):
    pass


@dataclass(frozen=True)
class Digest:
    name: str
    body: dict[str, Any]
    sha256: str

    @property
    def head_event_id(self) -> int | None:
        return self.body["head_event_id"]

    @property
    def head_hash(self) -> str:
        return self.body["head_hash"]

    @property
    def events(self) -> int:
        return self.body["events"]

    @property
    def created_at(self) -> datetime:
        return datetime.fromisoformat(self.body["created_at"])


def sign(key: str, body: dict[str, Any]) -> str:
    unsigned = {k: body[k] for k in FIELDS}
    return hmac.new(key.encode(), canonical_json(unsigned).encode(), hashlib.sha256).hexdigest()


def _names(directory: Path) -> list[str]:
    # The UTC timestamp in the name makes name order the order they were written in.
    return sorted(p.name for p in directory.glob(f"{PREFIX}*{SUFFIX}"))


def _read(path: Path) -> Digest:
    raw = path.read_bytes()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise DigestError(f"digest {path.name} is not JSON") from None
    if not isinstance(body, dict) or set(body) != {*FIELDS, "signature"}:
        raise DigestError(f"digest {path.name} does not hold the digest fields")
    return Digest(path.name, body, hashlib.sha256(raw).hexdigest())


def configured() -> tuple[Path, str]:
    key, directory = settings.VOLPANEL_AUDIT_DIGEST_KEY, settings.VOLPANEL_AUDIT_DIGEST_DIR
    if not (key and directory):
        raise DigestError("Set VOLPANEL_AUDIT_DIGEST_KEY and VOLPANEL_AUDIT_DIGEST_DIR to write digests.")
    return Path(directory), key


def write(directory: Path | None = None, key: str | None = None, *, max_age: float | None = None) -> Path | None:
    """Write a digest of the chain as it stands. With `max_age`, only when the newest digest in the directory
    is older than that many seconds (several processes sharing the directory then write one between them).
    Returns the new file, or None when one was not due."""
    if directory is None or key is None:
        directory, key = configured()
    # Under the chain head's lock: the head cannot move while it is read, and writers on several hosts sharing
    # the directory take turns, so the digests form one chain.
    with transaction.atomic():
        head = AuditChainHead.locked()
        names = _names(directory)
        previous = _read(directory / names[-1]) if names else None
        now = timezone.now().astimezone(dt_timezone.utc)
        if previous is not None:
            if max_age is not None and now - previous.created_at < timedelta(seconds=max_age):
                return None
            # Another host's clock may be ahead: the new digest must still sort after the previous one.
            now = max(now, previous.created_at + timedelta(microseconds=1))
        body: dict[str, Any] = {
            "version": VERSION,
            "created_at": now.isoformat(),
            "head_event_id": head.last_event_id,
            "head_hash": head.last_hash,
            "events": head.events,
            "previous_digest": previous.name if previous else None,
            "previous_digest_sha256": previous.sha256 if previous else None,
        }
        body["signature"] = sign(key, body)
        path = directory / f"{PREFIX}{now:%Y%m%dT%H%M%S%f}Z{SUFFIX}"
        tmp = directory / f".{path.name}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(body, indent=2, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # fails rather than replace an existing digest
        finally:
            tmp.unlink()
    return path


def load_chain(directory: Path, key: str) -> list[Digest]:
    """Every digest in the directory, oldest first, each checked for its signature and its link to the one
    before. Raises DigestError naming the first digest that fails."""
    if not directory.is_dir():
        raise DigestError(f"{directory} is not a directory")
    digests: list[Digest] = []
    previous: Digest | None = None
    for name in _names(directory):
        digest = _read(directory / name)
        if not hmac.compare_digest(str(digest.body.get("signature")), sign(key, digest.body)):
            raise DigestError(f"digest {name}: the signature does not match (forged or altered, or signed "
                              f"with another key)")
        if previous is None:
            if digest.body["previous_digest"] is not None:
                raise DigestError(f"digest {name} follows {digest.body['previous_digest']}, which is not in "
                                  f"{directory} (earlier digests were removed)")
        elif (digest.body["previous_digest"], digest.body["previous_digest_sha256"]) != (previous.name,
                                                                                        previous.sha256):
            raise DigestError(f"digest {name} does not follow {previous.name} (a digest was removed, replaced or "
                              f"altered)")
        elif digest.events < previous.events:
            raise DigestError(f"digest {name} counts {digest.events} events, fewer than {previous.name} "
                              f"({previous.events})")
        digests.append(digest)
        previous = digest
    return digests
