"""A tiny hostile Cinder on 127.0.0.1 (stdlib http.server in a thread): version discovery answers properly, every
other request gets whatever the test set as `behaviour` — broken JSON, a huge body, a drip, silence."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Behaviour = Callable[[BaseHTTPRequestHandler], None]
# Nothing the server does lasts longer than this, whatever the client does: the test suite must end.
LONGEST = 20.0


def body(status: int, content: bytes | str | Any, content_type: str = "application/json") -> Behaviour:
    raw = content if isinstance(content, bytes) else (content.encode() if isinstance(content, str)
                                                      else json.dumps(content).encode())

    def answer(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(raw)))
        h.send_header("x-openstack-request-id", "req-hostile")
        h.end_headers()
        h.wfile.write(raw)

    return answer


def declared_huge(h: BaseHTTPRequestHandler) -> None:
    """Says 64 GiB are coming, sends a little."""
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(64 * 1024**3))
    h.end_headers()
    _keep_writing(h, b'{"volumes": [' + b" " * 65536, pause=0.0)


def endless_chunked(h: BaseHTTPRequestHandler) -> None:
    """No Content-Length: chunk after chunk of a JSON list that never closes."""
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    piece = b'{"id": "x", "status": "available", "size": 1},' * 1000
    _keep_writing(h, b"%x\r\n%s\r\n" % (len(piece), piece), pause=0.0)


def drip(h: BaseHTTPRequestHandler) -> None:
    """Headers at once, then one byte of body every 0.2 s: each socket read is quick, the answer never ends."""
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", "100000")
    h.end_headers()
    h.wfile.write(b"{")
    _keep_writing(h, b" ", pause=0.2)


def silent(h: BaseHTTPRequestHandler) -> None:
    """Accepts the request and never answers."""
    deadline = time.monotonic() + LONGEST
    while time.monotonic() < deadline and not h.server.stopping.is_set():  # type: ignore[attr-defined]
        time.sleep(0.05)


def _keep_writing(h: BaseHTTPRequestHandler, piece: bytes, pause: float) -> None:
    deadline = time.monotonic() + LONGEST
    try:
        while time.monotonic() < deadline and not h.server.stopping.is_set():  # type: ignore[attr-defined]
            h.wfile.write(piece)
            h.wfile.flush()
            if pause:
                time.sleep(pause)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up, as it should


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # /volume/, /volume/v3/ and /volume/v3/<project>: what keystoneauth's discovery asks for.
    DISCOVERY = re.compile(r"^/volume(/v3(/[0-9a-f]{32})?)?/?$")

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.requests.append(f"{self.command} {self.path}")  # type: ignore[attr-defined]
        if self.DISCOVERY.match(self.path.split("?")[0]):
            base = f"http://{self.headers['Host']}"
            body(200, {"versions": [{"id": "v3.0", "status": "CURRENT", "version": "3.71", "min_version": "3.0",
                                     "links": [{"rel": "self", "href": f"{base}/volume/v3/"}]}]})(self)
            return
        self.server.behaviour(self)  # type: ignore[attr-defined]

    do_GET = do_POST = do_PUT = do_DELETE = _any

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def hostile_cinder() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.behaviour = body(200, {"volumes": []})  # type: ignore[attr-defined]
    server.requests = []  # type: ignore[attr-defined]
    server.stopping = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()  # type: ignore[attr-defined]
        server.shutdown()
        server.server_close()
        thread.join(5)


def base_url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


def pointed_at(creds: Any, server: ThreadingHTTPServer,
               service_types: tuple[str, ...] = ("block-storage", "volumev3", "volume")) -> Any:
    """The same login, with the token's catalog sending block-storage (or `service_types`) to the hostile
    server — as a cloud whose Cinder (or a proxy in front of it) misbehaves would. Keystone stays the demo one."""
    state = json.loads(creds.auth_state)
    for service in state["body"]["token"]["catalog"]:
        if service["type"] in service_types:
            for endpoint in service["endpoints"]:
                endpoint["url"] = re.sub(r"^https?://[^/]+", base_url(server), endpoint["url"])
    return dataclasses.replace(creds, auth_state=json.dumps(state))
