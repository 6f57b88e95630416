"""Structured logs with request ids.

The id of the request being served lives in a context variable, set by
:class:`~.observe.RequestObserver`; :class:`RequestIdFilter` copies it onto every log
record (``record.request_id``, ``-`` outside a request), so a backend's log line says
which request it belongs to. ``log_format = "json"`` writes one JSON object per line.
"""

from __future__ import annotations

import contextvars
import logging
import time
from typing import Any

import msgspec

__all__ = ["REQUEST_ID", "JsonFormatter", "RequestIdFilter", "configure_logging"]

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
# Attributes every LogRecord has; anything else was passed in ``extra=`` and is logged.
# (uvicorn's ``color_message`` repeats the message with terminal colours.)
_STANDARD = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "request_id",
    "color_message",
}
_encoder = msgspec.json.Encoder(enc_hook=str)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, request_id, message, extras."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "request_id": getattr(record, "request_id", REQUEST_ID.get()),
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        return _encoder.encode(out).decode("utf-8", "replace")


def configure_logging(level: str, fmt: str) -> None:
    """Root logging for ``modelport serve``: ``fmt`` is ``"text"`` or ``"json"``."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
