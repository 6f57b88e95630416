"""Running a blocking runtime's generation loop on a worker thread, as an async stream.

A backend writes a plain function ``work(emit, cancelled)`` that calls ``emit(event)``
for every event and checks ``cancelled.is_set()`` between tokens. ``stream_from_thread``
turns it into an async iterator; closing the iterator (the client went away) sets
``cancelled`` and waits for the thread to finish, so the model is free again when the
slot is released.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import anyio

__all__ = ["Emit", "run_blocking", "stream_from_thread"]

T = TypeVar("T")
Emit = Callable[[Any], None]

_DONE = object()
_executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="modelport-gen")


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


async def stream_from_thread(
    work: Callable[[Emit, threading.Event], None],
) -> AsyncIterator[Any]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    cancelled = threading.Event()

    def emit(item: Any) -> None:
        if not cancelled.is_set():
            loop.call_soon_threadsafe(queue.put_nowait, item)

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
