"""The one owner of volpanel's process-wide state: every memo of cloud answers or renders and every other
per-process registry (remembered actors, the reconciler's counters, the readiness probe's last answer) is
registered here by name, so there is one list of them (`registered`) and one way to clear them all (`clear_all`:
tests start from a cold process with it). Running threads are not state to clear: the volume watchers end when
their volume settles (`volumes.watchers.wait_idle`), the reconciler with `stop_periodic`. The OpenStack clients'
connection pools and version documents belong to `volpanel.openstack`, which knows nothing of volpanel.
Knows nothing of Django or OpenStack."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_lock = threading.Lock()
_clearers: dict[str, Callable[[], None]] = {}


def register(name: str, clear: Callable[[], None]) -> None:
    """Own a piece of process-wide state: `clear` empties it. A name registers once (a re-imported module
    replaces its own entry rather than adding a second)."""
    with _lock:
        _clearers[name] = clear


def registered() -> list[str]:
    """The names of every piece of process-wide state, in the order they were registered."""
    with _lock:
        return list(_clearers)


def clear_all() -> None:
    """Forget every memo and empty every registry of this process."""
    with _lock:
        clearers = list(_clearers.values())
    for clear in clearers:
        clear()


class Memo(Generic[K, V]):
    """Answers kept for at most `ttl` seconds, at most `size` of them (the oldest tenth is shed when full)."""

    def __init__(self, name: str, ttl: float, size: int = 2000) -> None:
        self.name, self.ttl, self.size = name, ttl, size
        self._items: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()
        register(name, self.clear)

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._items.get(key)
        if found is None or time.monotonic() - found[0] > self.ttl:
            return None
        return found[1]

    def get_aged(self, key: K) -> tuple[V, float] | None:
        """The answer and how many seconds ago it was put, if it is still kept."""
        with self._lock:
            found = self._items.get(key)
        if found is None:
            return None
        age = time.monotonic() - found[0]
        return None if age > self.ttl else (found[1], age)

    def forget(self, where: Callable[[K], bool]) -> None:
        """Drop the answers whose key `where` picks (what an action just changed)."""
        with self._lock:
            for key in [k for k in self._items if where(k)]:
                del self._items[key]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            if len(self._items) >= self.size:
                # Oldest first (dicts keep insertion order): a full memo sheds a tenth, not everything.
                for old in list(self._items)[: max(1, self.size // 10)]:
                    del self._items[old]
            self._items.pop(key, None)
            self._items[key] = (time.monotonic(), value)

    def values(self) -> list[V]:
        """What the memo holds now, fresh or not (tests and benchmarks look inside with it)."""
        with self._lock:
            return [value for _, value in self._items.values()]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
