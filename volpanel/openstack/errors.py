"""The one exception every OpenStack client call raises, carrying what the cloud said."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, get_args

import requests

# Fault kinds: "fault" (the service answered an error), "auth" (token rejected or expired), "timeout",
# "connection" (refused, reset, DNS), "catalog" (the service is not in this cloud), "malformed" (an answer
# that is not what the API documents).
Kind = Literal["fault", "auth", "timeout", "connection", "catalog", "malformed"]
KINDS: tuple[Kind, ...] = get_args(Kind)


@dataclass
class CloudError(Exception):
    kind: Kind
    message: str
    service: str = ""
    status: int | None = None
    fault_name: str = ""
    request_id: str = ""
    # A timeout or a dropped connection after the request went out: the service may have acted on it.
    maybe_delivered: bool = False

    def __str__(self) -> str:
        where = f"{self.service} " if self.service else ""
        code = f" {self.status}" if self.status else ""
        name = f" {self.fault_name}" if self.fault_name else ""
        return f"{where}{self.kind}{code}{name}: {self.message}"

    @property
    def first_line(self) -> str:
        # Real Cinder appends a server traceback to some 400s; a tenant needs only the sentence before it.
        return self.message.split("\n", 1)[0].strip()


def request_id_of(response: requests.Response) -> str:
    headers = response.headers
    return headers.get("x-openstack-request-id") or headers.get("x-compute-request-id") or ""


MAX_MESSAGE = 500


def _readable(response: requests.Response) -> str:
    """The text of a non-JSON error answer, bounded: Glance (webob) and proxies in front of any service answer
    HTML pages, whose tags and head are no message for a tenant."""
    text = response.text or ""
    if "html" in response.headers.get("Content-Type", "").lower() or text.lstrip()[:1] == "<":
        text = re.sub(r"(?is)<(head|script|style)\b.*?</\1\s*>", " ", text[: MAX_MESSAGE * 100])
        text = html.unescape(re.sub(r"<[^>]*>", " ", text))
        text = " ".join(text.split())
    text = text.strip() or (response.reason or "")
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def fault_from_response(service: str, response: requests.Response) -> CloudError:
    """Turn an error answer into a CloudError: OpenStack faults are `{"<name>": {"code", "message"}}`,
    Keystone's are `{"error": {...}}`, Glance answers text; anything else is kept verbatim but bounded."""
    name, message = "", ""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and len(body) == 1:
        (key, value), = body.items()
        if isinstance(value, dict):
            name = key if key != "error" else str(value.get("title", "error"))
            message = str(value.get("message", ""))
        elif isinstance(value, str):
            name, message = key, value
    if not message:
        message = _readable(response) or f"HTTP {response.status_code}"
    kind: Kind = "auth" if response.status_code == 401 else "fault"
    return CloudError(
        kind=kind,
        message=message,
        service=service,
        status=response.status_code,
        fault_name=name,
        request_id=request_id_of(response),
    )


@contextmanager
def understood(service: str, speaker: str, what: str) -> Iterator[None]:
    """Parse an answer inside this: a missing key or a wrong type anywhere in it is one "malformed" CloudError."""
    try:
        yield
    except CloudError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise CloudError("malformed", f"{speaker} sent {what} volpanel does not understand ({exc!r:.200}).",
                         service=service) from exc
