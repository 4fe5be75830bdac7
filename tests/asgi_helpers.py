"""Running the ASGI application in a test as uvicorn runs it: on an event loop of its own, in a thread of its own
(async_to_sync would run the views' sync parts in the test's thread instead of the server's threads)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any


def on_own_loop(run: Callable[[], Coroutine[Any, Any, None]], timeout: float = 30) -> None:
    """Run `run()` to its end on a new event loop in a new thread; what it raises is raised here."""
    failures: list[BaseException] = []

    def serve() -> None:
        try:
            asyncio.run(run())
        except BaseException as exc:  # re-raised in the test's thread
            failures.append(exc)

    server = threading.Thread(target=serve)
    server.start()
    server.join(timeout)
    if failures:
        raise failures[0]
