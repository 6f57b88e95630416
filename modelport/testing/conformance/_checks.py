"""Checks shared by every conformance class: event order, error types, worker threads."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar, get_args

import msgspec

from modelport.core.errors import ModelportError
from modelport.core.types import Finish, FinishReason, Started, TextDelta

__all__ = [
    "Stream",
    "assert_pool_idle",
    "busy_pool_threads",
    "drain",
    "expect_core_error_or_result",
    "run",
]

T = TypeVar("T")
FINISH_REASONS = frozenset(get_args(FinishReason))


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one scenario on a fresh event loop: the kit needs no async test plugin."""
    return asyncio.run(coro)


class Stream(msgspec.Struct, kw_only=True):
    """One generation's events, checked against the contract: ``Started`` first, then
    text deltas, then exactly one ``Finish`` with usage."""

    events: list[Any]

    @property
    def started(self) -> Started:
        return self.events[0]  # type: ignore[no-any-return]

    @property
    def finish(self) -> Finish:
        return self.events[-1]  # type: ignore[no-any-return]

    @property
    def deltas(self) -> list[TextDelta]:
        return [e for e in self.events if isinstance(e, TextDelta)]

    @property
    def text(self) -> str:
        return "".join(d.text for d in self.deltas)

    def check_order(self, who: str) -> Stream:
        kinds = [type(e).__name__ for e in self.events]
        assert self.events, f"{who}: the stream yielded no event"
        assert isinstance(self.events[0], Started), f"{who}: first event is not Started: {kinds}"
        assert isinstance(self.events[-1], Finish), f"{who}: last event is not Finish: {kinds}"
        finishes = sum(isinstance(e, Finish) for e in self.events)
        assert finishes == 1, f"{who}: {finishes} Finish events, expected exactly one"
        middle = self.events[1:-1]
        assert all(isinstance(e, TextDelta) for e in middle), (
            f"{who}: between Started and Finish only text deltas may come: {kinds}"
        )
        return self

    def check_usage(self, who: str) -> Stream:
        usage = self.finish.usage
        assert self.finish.reason in FINISH_REASONS, f"{who}: bad reason {self.finish.reason!r}"
        assert usage.prompt_tokens >= 0 and usage.completion_tokens >= 0, f"{who}: {usage}"
        assert usage.prompt_tokens == self.started.prompt_tokens, (
            f"{who}: Started says {self.started.prompt_tokens} prompt tokens, "
            f"Finish.usage says {usage.prompt_tokens}"
        )
        counted = sum(d.tokens for d in self.deltas)
        assert counted == usage.completion_tokens, (
            f"{who}: the deltas cover {counted} tokens but usage.completion_tokens is "
            f"{usage.completion_tokens}; TextDelta.tokens must add up to it"
        )
        return self


async def drain(events: AsyncIterator[Any]) -> Stream:
    """Every event of a stream, closing it at the end."""
    out: list[Any] = []
    try:
        async for event in events:
            out.append(event)
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()
    return Stream(events=out)


async def expect_core_error_or_result(
    make: Callable[[], Awaitable[T]], what: str
) -> T | ModelportError:
    """Run ``make()``: it may succeed or raise a ``modelport.core.errors`` type; any
    other exception fails with the backend's own traceback attached."""
    try:
        return await make()
    except ModelportError as exc:
        return exc
    except Exception as exc:
        raise AssertionError(
            f"{what}: {type(exc).__module__}.{type(exc).__name__} escaped the backend; "
            "backends may raise only modelport.core.errors types "
            "(InvalidRequest, ContextLengthExceeded, BackendError, ...)"
        ) from exc


def _is_pool_worker(frame: Any) -> bool:
    while frame is not None:
        if frame.f_code.co_name == "_worker" and frame.f_code.co_filename.endswith(
            "concurrent/futures/thread.py"
        ):
            return True
        frame = frame.f_back
    return False


def busy_pool_threads() -> list[str]:
    """Names of thread-pool workers (``modelport-gen``, asyncio's default executor)
    that are running a task now rather than waiting for one."""
    frames = sys._current_frames()
    busy = []
    for thread in threading.enumerate():
        frame = frames.get(thread.ident or -1)
        if frame is None or not _is_pool_worker(frame):
            continue
        if frame.f_code.co_name != "_worker":
            busy.append(f"{thread.name} in {frame.f_code.co_name} ({frame.f_code.co_filename})")
    return busy


def assert_pool_idle(who: str, baseline: Sequence[str] = (), grace: float = 1.0) -> None:
    """Fail if a pool worker is still busy ``grace`` seconds from now.

    It waits with ``time.sleep``, never yielding to the event loop: a stream whose
    ``aclose()`` returned before its worker stopped (cleanup left to the garbage
    collector's finaliser) is caught here rather than tidied up behind the check.
    """
    deadline = time.monotonic() + grace
    while True:
        busy = [b for b in busy_pool_threads() if b not in baseline]
        if not busy or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not busy, (
        f"{who}: worker threads still running after the stream was closed: {busy}; "
        "closing the stream must stop generation and wait for the worker"
    )
