"""What one signed-in session may cost. Open status streams per session and per user in this process, capped:
one browser (or script) cannot hold hundreds of sockets and watchers; a stream over a cap is refused with 429,
and a page whose stream would be refused is served without one (it says to reload for the latest status, as it
does without JavaScript). And how fast a session's requests may make volpanel call the cloud (a token bucket
in the database, shared by every process and host: lib.buckets)."""

from __future__ import annotations

import hashlib
import math
import threading
from collections import Counter

from django.conf import settings

from volpanel.lib import buckets

# How long a refused browser is asked to wait before trying again (the sse extension backs off on its own).
RETRY_AFTER_SECONDS = 30
_lock = threading.Lock()
_open: Counter[str] = Counter()


def _keys(session_key: str, user: str) -> tuple[str, str]:
    return f"session:{session_key}", f"user:{user}"


def full(session_key: str, user: str) -> bool:
    """Whether one more stream of this session and user would go over a cap."""
    by_session, by_user = _keys(session_key, user)
    with _lock:
        return (_open[by_session] >= settings.VOLPANEL_STREAMS_PER_SESSION
                or _open[by_user] >= settings.VOLPANEL_STREAMS_PER_USER)


class Slot:
    """One open stream, counted until release() (idempotent: the stream's end and its garbage collection may both
    call it)."""

    def __init__(self, session_key: str, user: str) -> None:
        self.keys = _keys(session_key, user)
        self.released = False

    @classmethod
    def take(cls, session_key: str, user: str) -> Slot | None:
        """A slot, or None when the session or the user has all of theirs open."""
        slot = cls(session_key, user)
        by_session, by_user = slot.keys
        with _lock:
            if (_open[by_session] >= settings.VOLPANEL_STREAMS_PER_SESSION
                    or _open[by_user] >= settings.VOLPANEL_STREAMS_PER_USER):
                return None
            _open.update(slot.keys)
        return slot

    def release(self) -> None:
        with _lock:
            if self.released:
                return
            self.released = True
            _open.subtract(self.keys)
            for key in self.keys:
                if _open[key] <= 0:
                    del _open[key]


def open_streams() -> int:
    """Streams open in this process (tests, benchmarks)."""
    with _lock:
        return sum(n for key, n in _open.items() if key.startswith("session:"))


def cloud_wait(session_key: str) -> int:
    """Take one request from the session's budget of requests that call the cloud: 0 if it may go on, else the
    seconds to wait."""
    key = "volpanel:cloud-budget:" + hashlib.sha256(session_key.encode()).hexdigest()
    return math.ceil(buckets.take(key, settings.VOLPANEL_CLOUD_RATE, settings.VOLPANEL_CLOUD_BURST))
