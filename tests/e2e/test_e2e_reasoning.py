"""A reasoning model's thinking kept apart from its answer, through the real server and
the official SDK. No thinking model ships offline, so SmolLM2 is configured as one: its
template "opens" the block and a full stop closes it, so its first sentence is the
thinking and the rest the answer. That proves the mechanics with a real model: the
split, both field names, streaming, ``n``, and the token counts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from helpers import ServerProcess, assert_valid, smollm2_config

pytestmark = pytest.mark.e2e

ASK = [{"role": "user", "content": "Tell me about Paris in three sentences."}]
REASONING = '[models.reasoning]\nend = "."\nopened_by_template = true\n'


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    config = smollm2_config(tmp_path_factory.mktemp("reasoning"), model=REASONING)
    with ServerProcess(Path(config)) as server:
        yield openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0)


def _ask(client: openai.OpenAI, max_tokens: int = 60, **extra: Any) -> Any:
    return client.chat.completions.create(
        model="smollm2", messages=ASK, max_tokens=max_tokens, temperature=0, **extra
    )


def test_the_thinking_is_apart_from_the_answer(client: openai.OpenAI) -> None:
    resp = _ask(client)
    message = resp.choices[0].message
    thinking = message.model_extra["reasoning_content"]
    assert thinking and thinking == message.model_extra["reasoning"]
    assert "." not in thinking  # the end marker closed it
    assert message.content and not message.content.startswith(thinking)
    details = resp.usage.completion_tokens_details
    assert 0 < details.reasoning_tokens < resp.usage.completion_tokens
    assert_valid("CreateChatCompletionResponse", resp.model_dump(exclude_unset=True))


def test_streamed_it_says_the_same(client: openai.OpenAI) -> None:
    whole = _ask(client).choices[0].message
    thinking, answer, usage = "", "", None
    for chunk in _ask(client, stream=True, stream_options={"include_usage": True}):
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            extra = choice.delta.model_extra or {}
            thinking += extra.get("reasoning_content") or ""
            answer += choice.delta.content or ""
            if extra.get("reasoning_content"):
                assert extra["reasoning"] == extra["reasoning_content"]
    assert (thinking, answer) == (whole.model_extra["reasoning_content"], whole.content)
    assert usage is not None and usage.completion_tokens_details.reasoning_tokens > 0


def test_every_choice_thinks_apart(client: openai.OpenAI) -> None:
    resp = _ask(client, n=2)
    assert len(resp.choices) == 2
    for choice in resp.choices:
        assert choice.message.model_extra["reasoning_content"]
        assert choice.message.content
    single = _ask(client)
    assert resp.usage.completion_tokens_details.reasoning_tokens == (
        2 * single.usage.completion_tokens_details.reasoning_tokens
    )


def test_a_block_that_never_closes_is_all_thinking(client: openai.OpenAI) -> None:
    resp = _ask(client, max_tokens=3)
    choice = resp.choices[0]
    assert choice.finish_reason == "length"
    assert choice.message.content == ""
    assert choice.message.model_extra["reasoning_content"]
    assert resp.usage.completion_tokens_details.reasoning_tokens == 3


def test_constrained_output_is_refused_by_name_until_it_can_follow_the_thinking(
    client: openai.OpenAI,
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        _ask(client, response_format={"type": "json_object"})
    assert info.value.body["param"] == "response_format"  # type: ignore[index]
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    with pytest.raises(openai.BadRequestError) as info:
        _ask(client, tools=[tool], tool_choice="required")
    assert info.value.body["param"] == "tool_choice"  # type: ignore[index]


def test_the_model_object_says_it_reasons(client: openai.OpenAI) -> None:
    model = client.models.retrieve("smollm2").model_dump()
    assert model["capabilities"]["reasoning"] == {
        "start": "<think>",
        "end": ".",
        "opened_by_template": True,
    }


def test_the_responses_api_answers_without_the_thinking_and_counts_it(
    client: openai.OpenAI,
) -> None:
    chat = _ask(client)
    resp = client.responses.create(
        model="smollm2", input=ASK[0]["content"], max_output_tokens=60, temperature=0
    )
    assert resp.output_text == chat.choices[0].message.content
    reasoning = chat.usage.completion_tokens_details.reasoning_tokens
    assert resp.usage.output_tokens_details.reasoning_tokens == reasoning
