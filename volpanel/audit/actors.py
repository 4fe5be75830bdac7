"""Recent actors' Keystone sessions, in this process's memory only: the periodic reconciler judges a user's
left-over rows with that user's own token while it is valid. Nothing here is ever written anywhere."""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from volpanel.lib import memo
from volpanel.openstack.session import Credentials

# A token this close to its end could expire mid-judgement: the service credential is the safer choice then.
MARGIN = timedelta(seconds=60)
# Bounded so a busy process cannot grow without limit; the oldest actor is forgotten first.
CAPACITY = 1000

Key = tuple[str, str, str]  # (Keystone URL, user id, project id)

_lock = threading.Lock()
_sessions: OrderedDict[Key, Credentials] = OrderedDict()


def clear() -> None:
    """Forget every actor (memo.clear_all calls it)."""
    with _lock:
        _sessions.clear()


memo.register("audit.actor_sessions", clear)


def _usable(creds: Credentials, now: datetime) -> bool:
    expires = creds.expires_at
    if expires is None:
        return False
    if expires.tzinfo is None:  # Keystone's times are UTC
        expires = expires.replace(tzinfo=dt_timezone.utc)
    return expires - MARGIN > now


def remember(auth_url: str, creds: Credentials) -> None:
    """Keep the actor's newest credentials (called at each action attempt)."""
    now = datetime.now(dt_timezone.utc)
    key = (auth_url, creds.user_id, creds.project_id)
    with _lock:
        _sessions[key] = creds
        _sessions.move_to_end(key)
        for stale in [k for k, c in _sessions.items() if not _usable(c, now)]:
            del _sessions[stale]
        while len(_sessions) > CAPACITY:
            _sessions.popitem(last=False)


def forget(auth_url: str, user_id: str, project_id: str, *, only: Credentials | None = None) -> None:
    """Drop an actor's session (logout, or Keystone refused the token). With `only`, drop it only if it is
    still that credential: a newer login of the same user stays."""
    with _lock:
        current = _sessions.get((auth_url, user_id, project_id))
        if current is not None and (only is None or current.auth_state == only.auth_state):
            del _sessions[(auth_url, user_id, project_id)]


def lookup(auth_url: str, user_id: str, project_id: str) -> Credentials | None:
    """The actor's credentials if known here and not about to expire, else None."""
    now = datetime.now(dt_timezone.utc)
    with _lock:
        creds = _sessions.get((auth_url, user_id, project_id))
        if creds is None:
            return None
        if not _usable(creds, now):
            del _sessions[(auth_url, user_id, project_id)]
            return None
        return creds


def known() -> int:
    with _lock:
        return len(_sessions)
