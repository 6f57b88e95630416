"""The reasoning split in core: markers split across deltas, no end marker, a marker in
the answer, an empty block, a block opened by the template; tokens and finish reasons."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from modelport.core.config import ReasoningConfig
from modelport.core.reasoning import ReasoningSplitter, split_reasoning
from modelport.core.types import Finish, ReasoningDelta, Started, TextDelta, Usage


def _split(chunks: list[str], *, opened: bool = False) -> tuple[str, str]:
    splitter = ReasoningSplitter("<think>", "</think>", opened=opened)
    pieces = [p for chunk in chunks for p in splitter.feed(chunk)] + splitter.flush()
    thinking = "".join(text for is_reasoning, text in pieces if is_reasoning)
    answer = "".join(text for is_reasoning, text in pieces if not is_reasoning)
    return thinking, answer


@pytest.mark.parametrize(
    "chunks",
    [
        ["<think>why</think>Paris"],
        ["<", "think", ">w", "hy</", "thi", "nk>", "Paris"],
        ["<think>", "why", "</think>\n\n", "Paris"],
        ["  <think>why</", "think>", "Par", "is"],
    ],
)
def test_markers_split_across_deltas(chunks: list[str]) -> None:
    assert _split(chunks) == ("why", "Paris")


def test_no_start_marker_is_all_answer_and_lookalikes_are_text() -> None:
    assert _split(["<thin", "king>", " is a tag"]) == ("", "<thinking> is a tag")
    assert _split(["Paris"]) == ("", "Paris")


def test_a_block_that_never_closes_is_all_reasoning() -> None:
    assert _split(["<think>still ", "thinking </th"]) == ("still thinking </th", "")


def test_the_end_marker_inside_the_answer_is_text() -> None:
    assert _split(["<think>a</think>use </think> to close"]) == ("a", "use </think> to close")


def test_an_empty_block() -> None:
    assert _split(["<think></think>", "Paris"]) == ("", "Paris")


def test_a_block_opened_by_the_template() -> None:
    assert _split(["why", "</think>Paris"], opened=True) == ("why", "Paris")


async def _events(deltas: list[str]) -> AsyncIterator[object]:
    yield Started(prompt_tokens=3)
    for text in deltas:
        yield TextDelta(text=text)
    yield Finish(reason="stop", usage=Usage(prompt_tokens=3, completion_tokens=len(deltas)))


async def _run(deltas: list[str], **config: object) -> list[object]:
    return [e async for e in split_reasoning(_events(deltas), ReasoningConfig(**config))]  # type: ignore[arg-type]


async def test_events_tokens_and_usage_add_up() -> None:
    events = await _run(["<think>", "a", "b", "</think>", "Par", "is"])
    thinking = [e for e in events if isinstance(e, ReasoningDelta)]
    answer = [e for e in events if isinstance(e, TextDelta)]
    finish = events[-1]
    assert isinstance(finish, Finish) and finish.reason == "stop"
    assert "".join(e.text for e in thinking) == "ab"
    assert "".join(e.text for e in answer) == "Paris"
    assert finish.usage.reasoning_tokens == 4  # the markers are thinking tokens
    assert sum(e.tokens for e in thinking + answer) == finish.usage.completion_tokens
    assert sum(e.tokens for e in thinking) == finish.usage.reasoning_tokens


async def test_a_block_left_open_has_an_empty_answer_and_finishes_with_length() -> None:
    events = await _run(["<think>", "a", "b"])
    finish = events[-1]
    assert isinstance(finish, Finish)
    assert (finish.reason, finish.usage.reasoning_tokens) == ("length", 3)
    assert not [e for e in events if isinstance(e, TextDelta)]


async def test_custom_markers_opened_by_the_template() -> None:
    events = await _run(["one", " two.", " Three"], end=".", opened_by_template=True)
    text = {type(e).__name__: "" for e in events}
    for e in events:
        if isinstance(e, TextDelta | ReasoningDelta):
            text[type(e).__name__] += e.text
    assert text == {"Started": "", "ReasoningDelta": "one two", "TextDelta": " Three", "Finish": ""}
