"""The outermost ASGI layer: request ids, one access-log line per request, request metrics.

It wraps the whole app (routing, errors, CORS included), so an unknown route, a 405 or a
401 is counted and logged like any answer. ``X-Request-Id`` from the client is kept when it
is a short token (letters, digits, ``-_.:``; at most 128); otherwise a new one is made. It
is echoed in the response headers and stamped on every log record made while serving.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from typing import Any

from .logs import REQUEST_ID
from .metrics import Metrics

__all__ = ["HEADER", "RequestObserver"]

log = logging.getLogger("modelport.access")

HEADER = "x-request-id"
_VALID_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")

Scope = dict[str, Any]


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == HEADER.encode() and _VALID_ID.match(value):
            return str(value.decode("ascii"))
    return uuid.uuid4().hex


class RequestObserver:
    def __init__(self, app: Any, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = REQUEST_ID.set(request_id)
        started = time.monotonic()
        status = 500
        header = (HEADER.encode(), request_id.encode())

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        outcome = "completed"
        try:
            await self.app(scope, receive, send_with_id)
        except asyncio.CancelledError:
            outcome = "cancelled"  # shutdown deadline, or the server's task was cancelled
            raise
        finally:
            self._record(scope, status, time.monotonic() - started, outcome)
            REQUEST_ID.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float, outcome: str) -> None:
        route = scope.get("path_template") or "unmatched"
        method = scope.get("method", "")
        self.metrics.observe_request(route, method, status, seconds)
        log.info(
            "%s %s %d %.1fms",
            method,
            scope.get("path", ""),
            status,
            seconds * 1000,
            extra={
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 1),
                "outcome": outcome,
            },
        )
