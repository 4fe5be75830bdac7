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


def http_scope(path: str, *, method: str = "GET", query: str = "",
               headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    """An HTTP request's ASGI scope as uvicorn gives it, for host `testserver`."""
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
            "headers": [(b"host", b"testserver"), *(headers or [])],
            "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}


def one_request(body: bytes, gone: asyncio.Event) -> Callable[[], Coroutine[Any, Any, dict[str, Any]]]:
    """An ASGI `receive`: the request's whole body first, then the client going away once `gone` is set."""
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    return receive
