from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from modelport.core.errors import BackendError
from modelport.core.generation import StopCutter, checked, collect, cut_at_stop
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
