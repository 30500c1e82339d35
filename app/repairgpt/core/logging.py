"""JSON log lines on stderr, one object per record, with passwords scrubbed from any URL."""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# user:password@ inside any URL-looking text; the password part is replaced.
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)@")
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)


# One encoder for every record: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)

# The id of the HTTP request being handled; every record logged while it is set carries it.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def scrub_secrets(text: str) -> str:
    """Replace the password of every URL in the text with ***."""
    if "://" not in text:  # the common case, and much cheaper than the substitution
        return text
    return _URL_PASSWORD.sub(r"\g<head>***@", text)


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object; `extra=` fields become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub_secrets(record.getMessage()),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            payload["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc_info"] = scrub_secrets(self.formatException(record.exc_info))
        return _ENCODER.encode(payload)


def configure_logging(level: str = "INFO") -> None:
    """Route every logger (uvicorn's included) through one JSON handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers[:] = []
        uvicorn_logger.propagate = True
    # The API writes its own access line with the route template and duration.
    logging.getLogger("uvicorn.access").disabled = True
    # Alembic narrates every run at INFO; the API logs one "database migrated" line instead.
    logging.getLogger("alembic").setLevel(logging.WARNING)
