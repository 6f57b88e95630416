"""Shared generation machinery: stop sequences, event-order checks, collecting a stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import TypeVar

import msgspec

from .errors import BackendError, ContextLengthExceeded
from .types import (
    ChatEvent,
    Finish,
    FinishReason,
    ReasoningDelta,
    Started,
    TextDelta,
    TokenLogprob,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__all__ = [
    "Collected",
    "StopCutter",
    "checked",
    "collect",
    "collect_choices",
    "cut_at_stop",
    "generation_budget",
    "merge_streams",
    "token_offsets",
]

T = TypeVar("T")


class StopCutter:
    """Finds stop sequences in streamed text, holding back any tail that could still
    grow into one, so no part of a stop sequence is ever emitted."""

    def __init__(self, stops: Sequence[str]):
        self.stops = [s for s in stops if s]
        self._hold = max((len(s) for s in self.stops), default=1) - 1
        self._buffer = ""
        self.stopped = False
        self.matched: str | None = None  # the stop sequence found

    def feed(self, text: str) -> str:
        """Text safe to emit now; sets ``stopped`` once a stop sequence appears."""
        if not self.stops:
            return text
        self._buffer += text
        hits = [(i, s) for s in self.stops if (i := self._buffer.find(s)) >= 0]
        if hits:
            self.stopped = True
            at, self.matched = min(hits, key=lambda hit: hit[0])
            out, self._buffer = self._buffer[:at], ""
            return out
        keep = self._partial_tail()
        out = self._buffer[: len(self._buffer) - keep]
        self._buffer = self._buffer[len(self._buffer) - keep :]
        return out

    def flush(self) -> str:
        out, self._buffer = self._buffer, ""
        return out

    def _partial_tail(self) -> int:
        """Length of the longest buffer suffix that is a proper prefix of a stop."""
        buf = self._buffer
        for size in range(min(self._hold, len(buf)), 0, -1):
            tail = buf[-size:]
            if any(s.startswith(tail) for s in self.stops):
                return size
        return 0


async def cut_at_stop(
    events: AsyncIterator[ChatEvent], stops: Sequence[str]
) -> AsyncGenerator[ChatEvent, None]:
    """Core's stop-sequence fallback for backends without native stop: emits text up
    to the first stop, then closes the backend's stream (which stops generation)."""
    cutter = StopCutter(stops)
    prompt_tokens, generated, pending_tokens = 0, 0, 0
    pending_logprobs: list[TokenLogprob] = []
    try:
        async for event in events:
            if isinstance(event, Started):
                prompt_tokens = event.prompt_tokens
                yield event
            elif isinstance(event, TextDelta):
                generated += event.tokens
                pending_tokens += event.tokens
                pending_logprobs.extend(event.logprobs)
                text = cutter.feed(event.text)
                if text:
                    yield TextDelta(
                        text=text, tokens=pending_tokens, logprobs=tuple(pending_logprobs)
                    )
                    pending_tokens, pending_logprobs = 0, []
                if cutter.stopped:
                    yield Finish(
                        reason="stop",
                        usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=generated),
                        stop_sequence=cutter.matched,
                    )
                    return
            else:
                rest = cutter.flush()
                if rest or pending_tokens:
                    yield TextDelta(
                        text=rest, tokens=pending_tokens, logprobs=tuple(pending_logprobs)
                    )
                yield event
    finally:
        await _aclose(events)


async def _aclose(events: AsyncIterator[ChatEvent]) -> None:
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()


async def checked(
    events: AsyncIterator[ChatEvent], backend: str
) -> AsyncGenerator[ChatEvent, None]:
    """Enforce the event contract: ``Started`` first, then deltas, then one ``Finish``."""
    state = "new"
    try:
        async for event in events:
            if state == "new" and not isinstance(event, Started):
                raise BackendError(
                    f"backend {backend!r} broke the contract: first event "
                    f"{type(event).__name__}, expected Started"
                )
            if state == "finished":
                raise BackendError(f"backend {backend!r} yielded events after Finish")
            state = "finished" if isinstance(event, Finish) else "running"
            yield event
        if state != "finished":
            raise BackendError(f"backend {backend!r} ended its stream without Finish")
    finally:
        await _aclose(events)


class Collected(msgspec.Struct, kw_only=True):
    text: str
    # The model's thinking, apart from the answer (empty for a model that does not reason).
    reasoning: str = ""
    reason: FinishReason
    usage: Usage
    logprobs: list[TokenLogprob] = msgspec.field(default_factory=list)
    # Where each logprob's token starts in ``text`` (completions' ``text_offset``).
    offsets: list[int] = msgspec.field(default_factory=list)
    tool_calls: list[ToolCall] = msgspec.field(default_factory=list)


async def collect(events: AsyncIterator[ChatEvent]) -> Collected:
    """A non-streaming request: the same events, gathered."""
    parts: list[str] = []
    logprobs: list[TokenLogprob] = []
    offsets: list[int] = []
    position = 0
    calls: dict[int, list[str]] = {}
    thinking: list[str] = []
    finish: Finish | None = None
    async for event in events:
        if isinstance(event, ReasoningDelta):
            thinking.append(event.text)
        elif isinstance(event, TextDelta):
            offsets.extend(token_offsets(event.logprobs, position))
            parts.append(event.text)
            position += len(event.text)
            logprobs.extend(event.logprobs)
        elif isinstance(event, ToolCallDelta):
            call = calls.setdefault(event.index, ["", "", ""])
            call[0] = event.id or call[0]
            call[1] = event.name or call[1]
            call[2] += event.arguments
        elif isinstance(event, Finish):
            finish = event
    if finish is None:
        raise BackendError("generation ended without Finish")
    tool_calls = [ToolCall(id=c[0], name=c[1], arguments=c[2]) for _, c in sorted(calls.items())]
    return Collected(
        text="".join(parts),
        reasoning="".join(thinking),
        reason=finish.reason,
        usage=finish.usage,
        logprobs=logprobs,
        offsets=offsets,
        tool_calls=tool_calls,
    )


def token_offsets(logprobs: Sequence[TokenLogprob], start: int) -> list[int]:
    """Where each token of a delta starts, the delta starting at ``start``."""
    out = []
    for item in logprobs:
        out.append(start)
        start += len(item.token)
    return out


async def merge_streams(
    streams: Sequence[AsyncGenerator[T, None]], *, width: int
) -> AsyncGenerator[tuple[int, T], None]:
    """(stream index, item) from every stream, at most ``width`` streams running at once.

    With ``width`` 1 the streams run one after another, in order. Otherwise each runs in
    its own task and items arrive as they are produced; the first error is raised, and
    closing the merged stream cancels and closes every stream.
    """
    if width <= 1:
        for i, stream in enumerate(streams):
            async with contextlib.aclosing(stream):
                async for item in stream:
                    yield i, item
        return
    inbox: asyncio.Queue[tuple[int, T | None, BaseException | None]] = asyncio.Queue()
    gate = asyncio.Semaphore(width)

    async def pump(i: int, stream: AsyncGenerator[T, None]) -> None:
        async with gate:
            try:
                async with contextlib.aclosing(stream):
                    async for item in stream:
                        await inbox.put((i, item, None))
            except Exception as exc:  # noqa: BLE001 - re-raised in the consumer
                await inbox.put((i, None, exc))
                return
        await inbox.put((i, None, None))

    tasks = [asyncio.ensure_future(pump(i, s)) for i, s in enumerate(streams)]
    try:
        running = len(tasks)
        while running:
            i, got, error = await inbox.get()
            if error is not None:
                raise error
            if got is None:
                running -= 1
            else:
                yield i, got
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def collect_choices(choices: AsyncIterator[tuple[int, ChatEvent]]) -> list[Collected]:
    """Gather (index, event) streams into one ``Collected`` per choice, in index order."""
    streams: dict[int, list[ChatEvent]] = {}
    async for index, event in choices:
        streams.setdefault(index, []).append(event)

    async def replay(events: list[ChatEvent]) -> AsyncIterator[ChatEvent]:
        for event in events:
            yield event

    return [await collect(replay(streams[i])) for i in sorted(streams)]


def generation_budget(n_ctx: int, prompt_tokens: int, max_tokens: int | None, param: str) -> int:
    """How many tokens a request may generate in a context of ``n_ctx``: all the room
    left when ``max_tokens`` is unset; a 400 naming ``param`` (the prompt) or
    ``max_tokens`` when they do not fit."""
    if prompt_tokens >= n_ctx:
        raise ContextLengthExceeded(
            f"this model's context is {n_ctx} tokens; the prompt has {prompt_tokens}",
            param=param,
        )
    room = n_ctx - prompt_tokens
    if max_tokens is None:
        return room
    if max_tokens > room:
        raise ContextLengthExceeded(
            f"this model's context is {n_ctx} tokens; you asked for "
            f"{prompt_tokens + max_tokens} ({prompt_tokens} in the prompt, "
            f"{max_tokens} to generate); lower max_tokens",
            param="max_tokens",
        )
    return max_tokens
