"""Structured logs: every record carries the id of the request it was written for, as JSON lines in
production (one object per line, what log shippers parse) or as plain text in demo mode."""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

from pythonjsonlogger.json import JsonFormatter

# Set by the request-id middleware for the duration of one request; asgiref copies it into sync_to_async
# threads, so records from a view, a service or a stream's render all carry it.
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("volpanel_request_id", default="-")

# An id from the proxy in front (nginx's $request_id, an earlier hop's X-Request-Id) is kept so one id follows
# the request through every log; anything else is replaced, so a client cannot write arbitrary text into logs.
_TRUSTED_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{7,63}")


def new_request_id(offered: str | None) -> str:
    if offered and _TRUSTED_ID.fullmatch(offered):
        return offered
    return f"req-{uuid.uuid4()}"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


def json_formatter() -> JsonFormatter:
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )


def text_formatter() -> logging.Formatter:
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")


def logging_config(fmt: str, level: str) -> dict[str, object]:
    """Django's LOGGING (and gunicorn's logconfig_dict) for the given format: json or text."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"json": {"()": json_formatter}, "text": {"()": text_formatter}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": fmt, "filters": ["request_id"]}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # keystoneauth logs request headers at DEBUG, token included: keep it quiet whatever the root level.
            "keystoneauth": {"level": "WARNING"},
            # One access line per request comes from volpanel.middleware; uvicorn's own would be a second.
            "uvicorn.access": {"level": "WARNING"},
            "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }
