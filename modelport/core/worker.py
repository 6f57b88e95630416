"""Running a blocking runtime's generation loop on a worker thread, as an async stream.

A backend writes a plain function ``work(emit, cancelled)`` that calls ``emit(event)``
for every event and checks ``cancelled.is_set()`` between tokens. ``stream_from_thread``
turns it into an async iterator; closing the iterator (the client went away) sets
``cancelled`` and waits for the thread to finish, so the model is free again when the
slot is released.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import anyio

__all__ = ["Emit", "coalesced_emits", "flush_emits", "run_blocking", "stream_from_thread"]

T = TypeVar("T")
Emit = Callable[[Any], None]

_DONE = object()
_executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="modelport-gen")


_pending = threading.local()  # events held by coalesced_emits, per thread


@contextlib.contextmanager
def coalesced_emits() -> Iterator[None]:
    """Hold the events emitted on this thread and hand them to their event loops at the
    end, one wake-up per loop: a thread that serves many streams (a batch scheduler's
    step) then wakes the server once, not once per stream, and does not fight the
    server's thread for the GIL in between."""
    _pending.items = []
    try:
        yield
    finally:
        flush_emits()
        _pending.items = None


def flush_emits() -> None:
    """Hand over the events held so far (before telling anyone that a stream ended, so
    its last events arrive first)."""
    held = getattr(_pending, "items", None)
    if not held:
        return
    loops: dict[asyncio.AbstractEventLoop, list[tuple[Callable[[Any], None], Any]]] = {}
    for loop, put, item in held:
        loops.setdefault(loop, []).append((put, item))
    held.clear()
    for loop, calls in loops.items():
        loop.call_soon_threadsafe(_deliver, calls)


def _deliver(calls: list[tuple[Callable[[Any], None], Any]]) -> None:
    for put, item in calls:
        put(item)


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


async def stream_from_thread(
    work: Callable[[Emit, threading.Event], None],
) -> AsyncGenerator[Any, None]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    cancelled = threading.Event()

    def emit(item: Any) -> None:
        if cancelled.is_set():
            return
        held = getattr(_pending, "items", None)
        if held is None:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        else:
            held.append((loop, queue.put_nowait, item))

    def run() -> None:
        try:
            work(emit, cancelled)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the event loop
            loop.call_soon_threadsafe(queue.put_nowait, _Failure(exc))
        else:
            loop.call_soon_threadsafe(queue.put_nowait, _DONE)

    future = loop.run_in_executor(_executor, run)
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                break
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        cancelled.set()
        # Wait for the thread even while this task is being cancelled (also by an anyio
        # cancel scope, which re-delivers cancellation at every await): the runtime must
        # be idle before the model's slot is handed to the next request.
        with anyio.CancelScope(shield=True):
            await future


async def run_blocking(fn: Callable[[], T]) -> T:
    """Run one blocking call (an embedding batch, say) on the worker pool."""
    return await asyncio.get_running_loop().run_in_executor(_executor, fn)
