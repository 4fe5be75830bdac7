"""The gunicorn worker: uvicorn's, with a deadline to read each request. uvicorn waits for a request's headers
and body as long as the client likes, so fifty connections trickling a byte now and then hold fifty sockets
for good; here each request must arrive whole within VOLPANEL_REQUEST_READ_TIMEOUT seconds of its first byte
(or of the connection's opening). No Django here: gunicorn's master imports it."""

from __future__ import annotations

import asyncio
import logging
import math
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker  # type: ignore[import-untyped]  # ships no type information

log = logging.getLogger("volpanel.worker")


def read_timeout(raw: str | None) -> float:
    """VOLPANEL_REQUEST_READ_TIMEOUT: seconds, default 10. A bad value stops the server at start."""
    if raw is None or raw.strip() == "":
        return 10.0
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"VOLPANEL_REQUEST_READ_TIMEOUT={raw!r} is not a number of seconds.") from None
    if not math.isfinite(value) or value < 1:
        raise ValueError(f"VOLPANEL_REQUEST_READ_TIMEOUT={raw!r} must be at least 1 second.")
    return value


READ_TIMEOUT = read_timeout(os.environ.get("VOLPANEL_REQUEST_READ_TIMEOUT"))
TIMED_OUT = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
             b"content-length: 34\r\n\r\nThe request took too long to send.")


class TimedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (its parser is C; h11's, pure Python, cost a page ~0.3 ms on this machine) with a
    read deadline: armed when the connection opens and when a request's first byte arrives, disarmed once the
    request is read to its end (a stream answering for minutes is not cut). Between requests on a kept-alive
    connection uvicorn's own keep-alive timeout applies."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_deadline: asyncio.TimerHandle | None = None
        self.headers_read = True  # no request begun yet: nothing half-read to answer with a 408 but the connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.headers_read = False  # the first request is owed within the deadline
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.headers_read = False
        self._arm()

    def on_headers_complete(self) -> None:
        self.headers_read = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self.read_deadline is None and not self.transport.is_closing():
            self.read_deadline = self.loop.call_later(READ_TIMEOUT, self._timed_out)

    def _disarm(self) -> None:
        if self.read_deadline is not None:
            self.read_deadline.cancel()
            self.read_deadline = None

    def _timed_out(self) -> None:
        self.read_deadline = None
        if self.transport.is_closing():
            return
        log.info("closed a connection from %s: its request was not read within %g s",
                 self.client[0] if self.client else "?", READ_TIMEOUT)
        if not self.headers_read and (self.cycle is None or self.cycle.response_complete):
            self.transport.write(TIMED_OUT)  # headers incomplete: no answer has started
        # Body incomplete: the app is waiting for it, and hears of a disconnect.
        self.transport.close()


class Worker(UvicornWorker):
    CONFIG_KWARGS = {**UvicornWorker.CONFIG_KWARGS, "http": TimedHttpToolsProtocol}
