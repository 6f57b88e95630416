"""Non-streaming handlers are not told when their client goes away; this watches."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from litestar import Response
from litestar.response import Stream

from modelport.core.generation import Collected, collect_choices
from modelport.core.types import ChatEvent

from .common import JSON, HttpRequest, prepend, stream_of

__all__ = ["CLIENT_CLOSED_REQUEST", "Choices", "answer_choices", "first_event", "while_connected"]

# Every choice's events, as ``ModelService.choices`` yields them.
Choices = AsyncIterator[tuple[int, ChatEvent]]

T = TypeVar("T")
CLIENT_CLOSED_REQUEST = 499  # nginx's status for "client closed the connection"


async def _client_gone(request: HttpRequest) -> None:
    """Return once the client disconnects (its body has already been read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def while_connected(
    request: HttpRequest,
    work: Coroutine[Any, Any, T],
) -> T | None:
    """The result of ``work``, or None if the client disconnected first; then ``work`` is
    cancelled, which stops its generation and frees the model's slot for those waiting."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_client_gone(request))
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return None if task.cancelled() else task.result()


async def first_event(request: HttpRequest, events: AsyncIterator[T]) -> T | None:
    """Await the first event before answering, so early failures get real statuses; None
    when the client went away meanwhile (waiting in the model's queue, for one), which
    drops the request."""

    async def first() -> T:
        try:
            return await anext(events)
        except BaseException:
            await events.aclose()  # type: ignore[attr-defined]
            raise

    return await while_connected(request, first())


async def answer_choices(
    request: HttpRequest,
    choices: Choices,
    *,
    frames: Callable[[Choices], AsyncIterator[bytes]] | None,
    whole: Callable[[list[Collected]], bytes],
    keep: Callable[[list[Collected]], Awaitable[None]] | None = None,
) -> Response[bytes] | Stream:
    """A generation's answer: its first event awaited (see :func:`first_event`), then the
    SSE ``frames`` of the choices when streaming, else the collected choices rendered
    ``whole``; a client gone meanwhile gets no answer (499 in the log). ``keep`` gets the
    collected choices of a finished answer before the client has all of it (streamed:
    before the final ``[DONE]``), to store it."""
    first = await first_event(request, choices)
    if first is None:
        return Response(b"", status_code=CLIENT_CLOSED_REQUEST)
    rest = prepend(first, choices)
    if frames is not None:
        return stream_of(frames(rest) if keep is None else _kept(frames, rest, keep))
    results = await while_connected(request, collect_choices(rest))
    if results is None:
        return Response(b"", status_code=CLIENT_CLOSED_REQUEST)
    if keep is not None:
        await keep(results)
    return Response(whole(results), media_type=JSON)


async def _kept(
    frames: Callable[[Choices], AsyncIterator[bytes]],
    choices: Choices,
    keep: Callable[[list[Collected]], Awaitable[None]],
) -> AsyncIterator[bytes]:
    """``frames`` of ``choices``, then ``keep`` of what they were, once all went out."""
    seen: list[tuple[int, ChatEvent]] = []

    async def tee() -> Choices:
        async for item in choices:
            seen.append(item)
            yield item

    async for frame in frames(tee()):
        yield frame

    async def replay() -> Choices:
        for item in seen:
            yield item

    await keep(await collect_choices(replay()))
