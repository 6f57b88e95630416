"""Worker-thread streams: events held for one wake-up arrive in order, before the end."""

from __future__ import annotations

import asyncio
import threading

from modelport.core.worker import Emit, coalesced_emits, flush_emits, stream_from_thread


def test_coalesced_events_arrive_in_order_before_the_stream_ends() -> None:
    """A scheduler thread emits for two streams inside one coalesced step; each stream's
    worker ends as soon as its events were flushed, and loses none of them."""
    go = [threading.Event(), threading.Event()]
    done = [threading.Event(), threading.Event()]

    def scheduler(emit_a: Emit, emit_b: Emit) -> None:
        with coalesced_emits():
            for n in range(3):
                emit_a(f"a{n}")
                emit_b(f"b{n}")
            flush_emits()
            done[0].set()  # stream a ends while b's last events are still held
            emit_b("b3")
        done[1].set()

    async def main() -> tuple[list[str], list[str]]:
        got: dict[str, list[str]] = {"a": [], "b": []}
        captured: dict[str, Emit] = {}

        def worker(name: str, i: int):
            def run(emit: Emit, cancelled: threading.Event) -> None:
                captured[name] = emit
                go[i].set()
                done[i].wait(5)

            return run

        async def read(name: str, i: int) -> None:
            async for item in stream_from_thread(worker(name, i)):
                got[name].append(item)

        readers = [asyncio.create_task(read("a", 0)), asyncio.create_task(read("b", 1))]
        await asyncio.to_thread(go[0].wait, 5)
        await asyncio.to_thread(go[1].wait, 5)
        await asyncio.to_thread(scheduler, captured["a"], captured["b"])
        await asyncio.gather(*readers)
        return got["a"], got["b"]

    a, b = asyncio.run(main())
    assert a == ["a0", "a1", "a2"]
    assert b == ["b0", "b1", "b2", "b3"]
