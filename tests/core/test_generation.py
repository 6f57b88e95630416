from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

import pytest

from modelport.core.errors import BackendError
from modelport.core.generation import StopCutter, checked, collect, cut_at_stop, merge_streams
from modelport.core.types import Finish, Started, TextDelta, Usage


def test_stop_cutter_holds_back_partial_matches() -> None:
    cutter = StopCutter(["END"])
    assert cutter.feed("hello E") == "hello "
    assert cutter.feed("N") == ""
    assert cutter.feed("D and more") == ""
    assert cutter.stopped


def test_stop_cutter_releases_false_alarm() -> None:
    cutter = StopCutter(["END"])
    assert cutter.feed("EN") == ""
    assert cutter.feed("x") == "ENx"
    assert cutter.flush() == ""
    assert not cutter.stopped


def test_stop_cutter_earliest_of_several() -> None:
    cutter = StopCutter(["bb", "a"])
    assert cutter.feed("xxbba") == "xx"


def test_no_stops_passes_through() -> None:
    cutter = StopCutter([])
    assert cutter.feed("anything") == "anything"


async def _events(words: list[str], closed: list[bool]) -> AsyncIterator[object]:
    try:
        yield Started(prompt_tokens=3)
        for w in words:
            yield TextDelta(text=w)
        yield Finish(reason="length", usage=Usage(prompt_tokens=3, completion_tokens=len(words)))
    finally:
        closed.append(True)


async def test_cut_at_stop_closes_the_backend_stream() -> None:
    closed: list[bool] = []
    out = await collect(
        cut_at_stop(_events(["one ", "two ", "thr", "ee ", "four"], closed), ["three"])
    )
    assert out.text == "one two "
    assert out.reason == "stop"
    assert out.usage == Usage(prompt_tokens=3, completion_tokens=4)
    assert closed == [True]


async def test_cut_at_stop_without_match_keeps_finish() -> None:
    out = await collect(cut_at_stop(_events(["a", "b"], []), ["zzz"]))
    assert out.text == "ab"
    assert out.reason == "length"


async def test_checked_rejects_broken_streams() -> None:
    async def no_start() -> AsyncIterator[object]:
        yield TextDelta(text="x")

    async def no_finish() -> AsyncIterator[object]:
        yield Started(prompt_tokens=1)

    with pytest.raises(BackendError, match="expected Started"):
        await collect(checked(no_start(), "b"))
    with pytest.raises(BackendError, match="without Finish"):
        await collect(checked(no_finish(), "b"))


async def _ticks(name: str, n: int, delay: float, log: list[str]) -> AsyncGenerator[str, None]:
    try:
        for i in range(n):
            await asyncio.sleep(delay)
            yield f"{name}{i}"
    finally:
        log.append(f"closed {name}")


def test_merge_streams_one_at_a_time_keeps_order() -> None:
    log: list[str] = []

    async def run() -> list[tuple[int, str]]:
        streams = [_ticks("a", 2, 0.01, log), _ticks("b", 2, 0.0, log)]
        return [x async for x in merge_streams(streams, width=1)]

    assert asyncio.run(run()) == [(0, "a0"), (0, "a1"), (1, "b0"), (1, "b1")]


def test_merge_streams_runs_at_once_and_interleaves() -> None:
    log: list[str] = []

    async def run() -> list[tuple[int, str]]:
        streams = [_ticks("a", 3, 0.03, log), _ticks("b", 3, 0.02, log)]
        return [x async for x in merge_streams(streams, width=2)]

    got = asyncio.run(run())
    assert sorted(got) == [(0, "a0"), (0, "a1"), (0, "a2"), (1, "b0"), (1, "b1"), (1, "b2")]
    assert got[0] == (1, "b0")  # b is faster: it did not wait for a to finish
    assert sorted(log) == ["closed a", "closed b"]


def test_merge_streams_raises_the_first_error_and_closes_the_rest() -> None:
    log: list[str] = []

    async def failing() -> AsyncGenerator[str, None]:
        await asyncio.sleep(0.01)
        raise ValueError("boom")
        yield "never"

    async def run() -> None:
        streams = [_ticks("a", 100, 0.01, log), failing()]
        async for _ in merge_streams(streams, width=2):
            pass

    with pytest.raises(ValueError, match="boom"):
        asyncio.run(run())
    assert log == ["closed a"]


def test_closing_merged_stream_closes_every_stream() -> None:
    log: list[str] = []

    async def run() -> None:
        merged = merge_streams([_ticks("a", 100, 0.01, log), _ticks("b", 100, 0.01, log)], width=2)
        async for _ in merged:
            break
        await merged.aclose()

    asyncio.run(run())
    assert sorted(log) == ["closed a", "closed b"]
