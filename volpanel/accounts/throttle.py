"""Login throttling: growing delays after failed logins, per user name and source address, in Django's cache.

Counted per (user name, address) pair, so guessing bob's password from one place slows that place down and never
locks bob out from his own: after FREE_PER_PAIR failures each further try must wait twice as long as the last
(1 s, 2 s, 4 s … at most MAX_DELAY). An address that fails for many names (spraying one password across users)
is slowed the same way after FREE_PER_ADDRESS failures, at most MAX_ADDRESS_DELAY: behind a shared NAT that is
a delay for the neighbours, never a lockout. A name is counted as Keystone would be asked for it, whatever its
case, width or surrounding blanks ('BOB ' is bob): variants share one count. A success forgets its own pair
only; failures are forgotten MEMORY seconds after the last one.

The cache is shared by every web process and host (VOLPANEL_CACHE: the database by default, or Redis), so an
attacker cannot spread guesses across them. Each count is a read then a write: two failures at the same instant
in two processes may count once, which delays a delay by a guess, never prevents it."""

from __future__ import annotations

import hashlib
import math
import time
import unicodedata

from django.core.cache import cache

FREE_PER_PAIR = 5
FREE_PER_ADDRESS = 30
MAX_DELAY = 15 * 60
MAX_ADDRESS_DELAY = 5 * 60
MEMORY = 60 * 60


def clock() -> float:
    return time.time()


def normalised(username: str) -> str:
    return unicodedata.normalize("NFKC", username).strip().casefold()


def _keys(username: str, address: str) -> list[tuple[str, int, int]]:
    user = hashlib.sha256(f"{normalised(username)}\0{address}".encode()).hexdigest()
    return [(f"volpanel:login-fail:pair:{user}", FREE_PER_PAIR, MAX_DELAY),
            (f"volpanel:login-fail:ip:{address}", FREE_PER_ADDRESS, MAX_ADDRESS_DELAY)]


def delay(failures: int, free: int, longest: int) -> int:
    """How long after the last of `failures` the next try waits: nothing for the first `free`, then doubling."""
    if failures < free:
        return 0
    return min(2 ** min(failures - free, 32), longest)


def wait_seconds(username: str, address: str) -> int:
    """Seconds before this name may be tried from this address again (0: now)."""
    keys = _keys(username, address)
    stored = cache.get_many([key for key, _, _ in keys])
    now = clock()
    waits = [0.0]
    for key, free, longest in keys:
        failures, last = stored.get(key) or (0, 0.0)
        waits.append(last + delay(failures, free, longest) - now)
    return math.ceil(max(waits))


def in_words(seconds: int) -> str:
    return f"{seconds} second{'s' if seconds != 1 else ''}" if seconds < 120 else f"{math.ceil(seconds / 60)} minutes"


def record_failure(username: str, address: str) -> None:
    keys = _keys(username, address)
    stored = cache.get_many([key for key, _, _ in keys])
    now = clock()
    cache.set_many({key: ((stored.get(key) or (0, now))[0] + 1, now) for key, _, _ in keys}, MEMORY)


def clear(username: str, address: str) -> None:
    """A successful login forgets this name's failures from this address (the address keeps its count)."""
    cache.delete(_keys(username, address)[0][0])
