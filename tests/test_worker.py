"""The gunicorn worker's read deadline (volpanel/worker.py), against gunicorn itself: slow clients trickling
headers or a body are cut off; a quick request, and a stream answering for longer than the deadline, are not."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Demo
from tests.live_server import Gunicorn, Tenant, server_env
from volpanel.worker import read_timeout

pytestmark = pytest.mark.django_db(transaction=True)
DEADLINE = 2.0


def slow_client(port: int, first: bytes, drip: bytes, closed_after: dict[int, float], index: int) -> None:
    """Send `first`, then a byte of `drip` every 0.3 s until the server closes the connection (at most 15 s)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.settimeout(0.3)
        sock.sendall(first)
        for i in range(50):
            try:
                if sock.recv(4096) == b"":
                    break  # the server closed it
            except TimeoutError:
                pass
            except OSError:
                break
            try:
                sock.sendall(drip[i % len(drip):i % len(drip) + 1] or b"x")
            except OSError:
                break
    closed_after[index] = time.monotonic() - started


def test_it_cuts_off_clients_that_trickle_headers_or_bodies(demo: Demo, tmp_path: Path) -> None:
    app = Gunicorn(server_env(f"sqlite:///{tmp_path / 'db.sqlite3'}", VOLPANEL_REQUEST_READ_TIMEOUT=str(DEADLINE)),
                   tmp_path / "gunicorn.log")
    try:
        headers = b"GET /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        body = (b"POST /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 1000\r\n\r\nusername=")
        closed_after: dict[int, float] = {}
        clients = [threading.Thread(target=slow_client, args=(app.port, headers if i % 2 else body,
                                                              b"X-Slow: y\r\n" if i % 2 else b"a", closed_after, i))
                   for i in range(50)]
        for client in clients:
            client.start()
        # Meanwhile a tenant signs in and follows a moving volume for longer than the deadline: untouched.
        demo.config(delay=2.0 * DEADLINE)
        tenant = Tenant(app.url)
        vid = demo.volume("data-01")["id"]
        assert tenant.post(f"/volumes/{vid}/extend/", {"new_size": "11"}).status_code == 302
        started = time.monotonic()
        stream = tenant.get(f"/volumes/{vid}/stream/", stream=True)
        text = b"".join(stream.iter_content(None)).decode()
        assert stream.status_code == 200 and "event: settled\ndata: available" in text
        assert time.monotonic() - started > DEADLINE
        for client in clients:
            client.join(20)
    finally:
        app.stop()
    slowest = max(closed_after.values())
    print(f"\nFIGURES slow clients: {len(closed_after)} trickling, all closed within {slowest:.1f} s")
    assert len(closed_after) == 50 and slowest < DEADLINE + 1.5, sorted(closed_after.values())


def test_it_refuses_a_read_deadline_it_cannot_keep(monkeypatch: Any) -> None:
    assert read_timeout(None) == 10.0 and read_timeout("") == 10.0 and read_timeout("2.5") == 2.5
    for bad in ("soon", "0", "nan", "-3"):
        with pytest.raises(ValueError, match="VOLPANEL_REQUEST_READ_TIMEOUT"):
            read_timeout(bad)
