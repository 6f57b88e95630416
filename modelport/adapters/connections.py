"""Connection limits for ``modelport serve``: header and idle timeouts, a connection cap.

uvicorn bounds only the wait between two requests on a kept-alive connection, and that
timer is disarmed by the first byte of the next request. A client that connects and
sends nothing, or sends its headers one byte a second (slowloris), holds a connection,
a file descriptor and a parser forever. This module extends uvicorn's httptools protocol
(the C parser, a dependency of modelport) with:

- a **header timeout**: a request's line and headers must arrive within it, counted from
  the connection's start or from the first byte of a later request;
- an **idle timeout**: the longest the server waits on a silent client, between two
  requests and between the pieces of a request body;
- a **connection cap**: a connection past it gets a 503 in the OpenAI error envelope and
  is closed at once, with a warning logged (at most once every 10 s).

It relies on uvicorn's ``HttpToolsProtocol`` callbacks and attributes (``connections``,
``flow.read_paused``, the parser callbacks), hence the version range pinned in
pyproject.toml; ``tests/adapters/test_connections.py`` drives the real server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["ConnectionLimits", "limited_protocol"]

log = logging.getLogger("modelport.http")

_FULL_BODY = (
    b'{"error":{"message":"the server is at its connection limit ([server] max_connections); '
    b'retry shortly","type":"server_error","param":null,"code":"too_many_connections"}}'
)
_FULL = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
    b"retry-after: 1\r\nconnection: close\r\ncontent-length: "
    + str(len(_FULL_BODY)).encode()
    + b"\r\n\r\n"
    + _FULL_BODY
)
_WARN_EVERY = 10.0


class ConnectionLimits:
    """The limits of one server (seconds and a count)."""

    def __init__(self, *, header_timeout: float, idle_timeout: float, max_connections: int):
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.refused = 0
        self.warned_at = float("-inf")

    def refuse(self, open_now: int) -> None:
        """Count a refused connection; warn now and then."""
        self.refused += 1
        now = time.monotonic()
        if now - self.warned_at >= _WARN_EVERY:
            self.warned_at = now
            log.warning(
                "connection limit reached: %d open ([server] max_connections = %d); "
                "refused %d connection(s) with a 503 so far",
                open_now,
                self.max_connections,
                self.refused,
            )


class _LimitedProtocol(HttpToolsProtocol):
    limits: ConnectionLimits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    # --- the connection cap and the first header deadline ------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self.limits.refuse(len(self.connections) - 1)
            transport.write(_FULL)
            transport.close()
            return
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._header_timer = _cancelled(self._header_timer)
        self._body_timer = _cancelled(self._body_timer)
        super().connection_lost(exc)

    # --- headers: from the first byte of a request to its last header ---------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._header_timer = _cancelled(self._header_timer)
        super().on_headers_complete()
        self._arm_body_timer()

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.limits.header_timeout, self._too_slow)

    def _too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            log.debug(
                "closed a connection from %s that sent no complete request headers in %gs "
                "([server] header_timeout)",
                _peer(self.client),
                self.limits.header_timeout,
            )
            self.transport.close()

    # --- the body: no silence longer than the idle timeout --------------------------

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._arm_body_timer()

    def on_message_complete(self) -> None:
        self._body_timer = _cancelled(self._body_timer)
        super().on_message_complete()

    def _arm_body_timer(self) -> None:
        _cancelled(self._body_timer)
        self._body_timer = self.loop.call_later(self.limits.idle_timeout, self._body_idle)

    def _body_idle(self) -> None:
        self._body_timer = None
        if self.transport.is_closing():
            return
        if self.flow is not None and self.flow.read_paused:
            self._arm_body_timer()  # the app has not read what came: the wait is ours
            return
        log.debug(
            "closed a connection from %s whose request body stalled for %gs "
            "([server] idle_timeout)",
            _peer(self.client),
            self.limits.idle_timeout,
        )
        self.transport.close()


def _cancelled(timer: asyncio.TimerHandle | None) -> asyncio.TimerHandle | None:
    """Cancel ``timer`` if there is one; None, for the attribute that held it."""
    if timer is not None:
        timer.cancel()
    return None


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "an unknown peer"


def limited_protocol(limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with ``limits``: pass it as ``uvicorn.run(http=...)``,
    with ``timeout_keep_alive=limits.idle_timeout``."""
    return type("LimitedHttpToolsProtocol", (_LimitedProtocol,), {"limits": limits})
