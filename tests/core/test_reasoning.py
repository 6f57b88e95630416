"""The reasoning split in core: markers split across deltas, no end marker, a marker in
the answer, an empty block, a block opened by the template; tokens and finish reasons.
Then efforts and budgets (what a backend is asked to follow, what is refused by name)
and the markers detected from chat templates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from modelport.core.chat_template import ChatTemplate
from modelport.core.config import ReasoningBudgets, ReasoningConfig
from modelport.core.errors import Unsupported
from modelport.core.features import Feature
from modelport.core.reasoning import (
    ReasoningSplitter,
    effective_reasoning,
    split_reasoning,
    with_thinking,
)
from modelport.core.types import (
    ChatRequest,
    Finish,
    Message,
    ReasoningDelta,
    Started,
    TextDelta,
    Usage,
)


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


# --- effort → thinking, and the markers a chat template shows --------------------------

QWEN3 = Path(__file__).parents[1] / "fixtures" / "qwen3_chat_template.jinja"
THINKS = ReasoningConfig(budgets=ReasoningBudgets(low=8))
FOLLOWS = frozenset({Feature.REASONING})


def _chat(**asked: object) -> ChatRequest:
    return ChatRequest(model="m", messages=(Message(role="user", content="hi"),), **asked)  # type: ignore[arg-type]


def test_effort_becomes_a_budget_for_a_backend_that_follows_the_thinking() -> None:
    low = with_thinking(_chat(reasoning_effort="low"), THINKS, FOLLOWS).thinking
    assert low is not None and (low.budget, low.limit, low.enabled) == (8, 8, True)
    exact = with_thinking(_chat(reasoning_budget=3), THINKS, FOLLOWS).thinking
    assert exact is not None and exact.limit == 3
    off = with_thinking(_chat(reasoning_effort="none"), THINKS, FOLLOWS).thinking
    assert off is not None and (off.enabled, off.limit) == (False, 0)
    free = with_thinking(_chat(), THINKS, FOLLOWS).thinking
    assert free is not None and free.limit is None  # no effort, no default: no limit
    default = msgspec.structs.replace(THINKS, effort="low")
    assert with_thinking(_chat(), default, FOLLOWS).thinking.limit == 8  # type: ignore[union-attr]
    assert with_thinking(_chat(reasoning_effort="max"), THINKS, FOLLOWS).thinking.limit is None  # type: ignore[union-attr]


@pytest.mark.parametrize("asked", [{"reasoning_effort": "low"}, {"reasoning_budget": 4}])
def test_what_cannot_be_honoured_is_refused_by_name(asked: dict[str, object]) -> None:
    param = "reasoning_effort" if "reasoning_effort" in asked else "reasoning_budget_tokens"
    for reasoning, features in ((None, FOLLOWS), (THINKS, frozenset())):
        with pytest.raises(Unsupported) as info:
            with_thinking(_chat(**asked), reasoning, features)
        assert info.value.param == param
    # effort none is fine for a model that does not reason; a backend that cannot follow
    # the thinking still has it split off, with no thinking for the backend
    assert with_thinking(_chat(reasoning_effort="none"), None, FOLLOWS).thinking is None
    assert with_thinking(_chat(), THINKS, frozenset()).thinking is None


def test_markers_and_switch_detected_from_chat_templates() -> None:
    qwen3 = ChatTemplate(QWEN3.read_text()).reasoning()
    assert qwen3 is not None
    assert (qwen3.start, qwen3.end, qwen3.opened_by_template, qwen3.switch) == (
        "<think>",
        "</think>",
        False,
        "enable_thinking",
    )
    r1_like = ChatTemplate(  # DeepSeek-R1's way: it opens the block, drops old thinking
        "{% for m in messages %}<|User|>{{ m['content'].split('</think>')[-1] }}"
        "{% endfor %}{% if add_generation_prompt %}<|Assistant|><think>\n{% endif %}"
    ).reasoning()
    assert r1_like is not None and r1_like.opened_by_template and r1_like.switch is None
    assert ChatTemplate(None).reasoning() is None  # ChatML: no markers


def test_configured_markers_take_the_detected_switch() -> None:
    detected = ReasoningConfig(switch="enable_thinking")
    configured = ReasoningConfig(end="</reason>")
    merged = effective_reasoning(configured, detected)
    assert merged is not None and (merged.end, merged.switch) == ("</reason>", "enable_thinking")
    assert effective_reasoning(None, detected) is detected
    assert effective_reasoning(None, None) is None
