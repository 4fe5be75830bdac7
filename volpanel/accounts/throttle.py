"""Login throttling: failed logins counted per user name and per source address, in Django's cache.

The cache is shared by every web process and host (VOLPANEL_CACHE: the database by default, or Redis), so an
attacker cannot spread guesses across them. The database cache's increment is a read then a write: two failures
at the same instant in two processes may count once, which delays a lockout by a guess, never prevents it."""

from __future__ import annotations

import hashlib

from django.core.cache import cache

WINDOW_SECONDS = 15 * 60
MAX_PER_USER = 10
MAX_PER_ADDRESS = 30


def _keys(username: str, address: str) -> list[tuple[str, int]]:
    user = hashlib.sha256(username.strip().lower().encode()).hexdigest()
    return [(f"volpanel:login-fail:user:{user}", MAX_PER_USER), (f"volpanel:login-fail:ip:{address}", MAX_PER_ADDRESS)]


def is_locked(username: str, address: str) -> bool:
    return any((cache.get(key) or 0) >= limit for key, limit in _keys(username, address))


def record_failure(username: str, address: str) -> None:
    for key, _ in _keys(username, address):
        if not cache.add(key, 1, WINDOW_SECONDS):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, WINDOW_SECONDS)


def clear(username: str) -> None:
    """A successful login forgets the user's failures (the address keeps its count)."""
    cache.delete(_keys(username, "")[0][0])
