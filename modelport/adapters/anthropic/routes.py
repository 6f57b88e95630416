"""The routes: ``POST /v1/messages`` (whole or streamed) and
``POST /v1/messages/count_tokens``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator

import msgspec
from litestar import Response, post
from litestar.response import Stream

from modelport.core.adapters import Body
from modelport.core.errors import BackendError, ModelportError
from modelport.core.types import ChatEvent, Started

from ..openai.common import HttpRequest, decode, service_of
from ..openai.disconnect import CLIENT_CLOSED_REQUEST, first_event, while_connected
from ..openai.errors import error_body
from . import mapping, render, wire

__all__ = ["BODIES", "ROUTES"]

JSON = "application/json"


async def _first(
    request: HttpRequest, events: AsyncGenerator[ChatEvent, None], origins: mapping.Origins
) -> Started | None:
    """The generation's ``Started`` (:func:`first_event`: early failures, such as an
    unknown model, a feature the model lacks, a full queue or a prompt over the context,
    keep their HTTP status, named as the client sent them); None when the client went
    away meanwhile."""
    try:
        first = await first_event(request, events)
    except ModelportError as exc:
        raise origins.renamed(exc) from None
    if first is not None and not isinstance(first, Started):
        await events.aclose()
        raise BackendError("the generation did not start with Started")
    return first


async def _rest(events: AsyncGenerator[ChatEvent, None]) -> list[ChatEvent]:
    async with contextlib.aclosing(events):
        return [event async for event in events]


def _omit_thinking(body: wire.MessagesRequest) -> bool:
    """Whether thinking blocks come without their text (``display: "omitted"``)."""
    thinking = body.thinking
    if isinstance(thinking, wire.ThinkingEnabled | wire.ThinkingAdaptive):
        return thinking.display == "omitted"
    return False


async def _stream(
    request: wire.MessagesRequest,
    started: Started,
    events: AsyncGenerator[ChatEvent, None],
    origins: mapping.Origins,
) -> AsyncIterator[bytes]:
    omit = _omit_thinking(request)
    try:
        async for chunk in render.stream_events(request.model, started, events, omit_thinking=omit):
            yield chunk
    except Exception as exc:  # noqa: BLE001 - reported in-band (the status is sent), and logged
        if isinstance(exc, ModelportError):
            origins.renamed(exc)
        status, body, _ = error_body(exc)
        yield render.stream_error(status, body.message, body.param, body.code)
    finally:
        with contextlib.suppress(Exception):
            await events.aclose()


@post("/v1/messages", status_code=200)
async def messages(request: HttpRequest) -> Response[bytes] | Stream:
    body = decode(await request.body(), wire.MessagesRequest)
    chat, origins = mapping.chat_request(body, body.max_tokens)
    events = service_of(request).chat(chat)
    started = await _first(request, events, origins)
    if started is None:
        return Response(b"", status_code=CLIENT_CLOSED_REQUEST)
    if body.stream:
        return Stream(
            _stream(body, started, events, origins),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    try:
        rest = await while_connected(request, _rest(events))
    except ModelportError as exc:
        raise origins.renamed(exc) from None
    if rest is None:
        return Response(b"", status_code=CLIENT_CLOSED_REQUEST)
    collected = [started, *rest]
    answer = render.message(body.model, collected, omit_thinking=_omit_thinking(body))
    return Response(answer, media_type=JSON)


@post("/v1/messages/count_tokens", status_code=200)
async def count_tokens(request: HttpRequest) -> Response[bytes]:
    """The input tokens a messages request would have: its prompt is rendered and
    evaluated exactly as for a message (tools and images included), then stopped before
    the first token, so the count equals that message's ``usage.input_tokens``."""
    body = decode(await request.body(), wire.CountTokensRequest)
    chat, origins = mapping.chat_request(body, 1)
    events = service_of(request).chat(chat)
    started = await _first(request, events, origins)
    await events.aclose()
    if started is None:
        return Response(b"", status_code=CLIENT_CLOSED_REQUEST)
    return Response(
        _encoder.encode(CountTokensOut(input_tokens=started.prompt_tokens)), media_type=JSON
    )


class CountTokensOut(msgspec.Struct, kw_only=True):
    input_tokens: int


_encoder = msgspec.json.Encoder()


ROUTES = [messages, count_tokens]
BODIES: dict[str, Body] = {
    "/v1/messages": (wire.MessagesRequest, None, True),
    "/v1/messages/count_tokens": (wire.CountTokensRequest, CountTokensOut, False),
}
