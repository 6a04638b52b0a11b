"""Logging for services: a request id that follows a request into every log record (app, core and the threads a
request hands work to), optional JSON lines (``log_format: json`` / ``LLMECO_LOG_FORMAT=json``), and personal data
redacted from every record by ``core.data.pii`` before any handler sees it."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Literal

from core.data.pii import redact_pii

LogFormat = Literal["text", "json"]
REQUEST_ID_HEADER = "X-Request-ID"
_request_id: ContextVar[str | None] = ContextVar("llmeco_request_id", default=None)
# A caller's id is kept only if it is short and plain, so a header cannot inject text into log lines.
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def current_request_id() -> str | None:
    return _request_id.get()


def accept_request_id(value: str | None) -> str:
    """The caller's ``X-Request-ID`` when it is well-formed, else a new one."""
    return value if value and _VALID_ID.fullmatch(value) else uuid.uuid4().hex


@contextlib.contextmanager
def request_context(request_id: str | None) -> Iterator[None]:
    """Log records inside carry ``request_id`` (used by worker threads that run a request's job)."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


class RedactingFilter(logging.Filter):
    """Adds ``request_id`` to the record and replaces its message (and traceback) with a PII-redacted copy."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "_llmeco_redacted", False):
            record.msg, record.args = redact_pii(record.getMessage()), None
            if record.exc_info:
                record.exc_text = redact_pii(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
            record._llmeco_redacted = True
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id (and exc when there is a traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": None if getattr(record, "request_id", "-") == "-" else record.request_id,
        }
        if record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


class _Handler(logging.StreamHandler):
    """The handler ``configure_logging`` installs (recognised so a second call replaces it)."""


def configure_logging(
    fmt: LogFormat = "text", level: int | str = logging.INFO, stream: IO[str] | None = None
) -> _Handler:
    """Send every logger (uvicorn's included: run it with ``log_config=None``) to ``stream`` (stderr) through the
    redacting filter, as text or JSON lines. Idempotent: a second call replaces the first one's handler."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    handler = _Handler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    return handler
