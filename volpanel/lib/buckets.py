"""Token buckets in Django's cache, shared by every web process: a rate with a burst, per key."""

from __future__ import annotations

import time

from django.core.cache import cache


def take(key: str, rate: float, burst: float, cost: float = 1.0) -> float:
    """Take `cost` from the bucket `key` (it refills at `rate` per second up to `burst`): 0 if taken, else the
    seconds until it could be. A read then a write: two processes taking at the same instant may both succeed,
    which lets one request more through, never fewer."""
    now = time.time()
    tokens, at = cache.get(key) or (burst, now)
    tokens = min(burst, tokens + max(0.0, now - at) * rate)
    if tokens < cost:
        return (cost - tokens) / rate
    cache.set(key, (tokens - cost, now), timeout=int(burst / rate) + 60)
    return 0.0
