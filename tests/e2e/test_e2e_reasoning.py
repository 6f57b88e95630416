"""A reasoning model's thinking kept apart from its answer, its effort and budget
honoured, through the real server and the official SDK.

No thinking model ships offline, so the mechanics are proven with real models set up
for it:

- ``smollm2``: SmolLM2 whose template "opens" the block and a full stop closes it, so
  its first sentence is the thinking and the rest the answer (the split, both field
  names, streaming, ``n``, the token counts);
- ``thinker``: SmolLM2 whose block closes with ``</think>``, which it never writes
  itself: every end of its thinking is the server's, forced when the budget is spent;
- ``plain``: SmolLM2 that does not reason;
- ``qwen3``: a tiny random GGUF of the Qwen3 architecture with Qwen3's real chat
  template and thinking tokens, detected without any ``[models.reasoning]``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import llama_cpp
import openai
import pytest

from fixtures.tiny_qwen3 import build_tiny_qwen3
from helpers import ServerProcess, assert_valid, smollm2_config, smollm2_gguf

pytestmark = pytest.mark.e2e

ASK = [{"role": "user", "content": "Tell me about Paris in three sentences."}]
REASONING = '[models.reasoning]\nend = "."\nopened_by_template = true\n'
LOW, MINIMAL = 8, 4  # the thinker's budgets for efforts "low" and "minimal"


@pytest.fixture(scope="module")
def qwen3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen3(tmp_path_factory.mktemp("qwen3"), tokenizer_gguf=smollm2_gguf())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, qwen3: Path) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("reasoning")
    config = smollm2_config(tmp, model=REASONING)
    with config.open("a") as f:
        f.write(
            f'[[models]]\nname = "thinker"\nbackend = "gguf"\nsource = "{smollm2_gguf()}"\n'
            '[models.reasoning]\nend = "</think>"\nopened_by_template = true\n'
            f"[models.reasoning.budgets]\nminimal = {MINIMAL}\nlow = {LOW}\n"
            f'[[models]]\nname = "plain"\nbackend = "gguf"\nsource = "{smollm2_gguf()}"\n'
            f'[[models]]\nname = "qwen3"\nbackend = "gguf"\nsource = "{qwen3}"\n'
            "[models.options]\nn_ctx = 1024\n"
        )
    with ServerProcess(Path(config)) as server:
        yield server


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0)


@pytest.fixture(scope="module")
def marker_tokens() -> int:
    """How many tokens SmolLM2 spells ``</think>`` with."""
    vocab = llama_cpp.Llama(str(smollm2_gguf()), vocab_only=True, verbose=False)
    return len(vocab.tokenize(b"</think>", add_bos=False, special=True))


def _ask(client: openai.OpenAI, max_tokens: int = 60, model: str = "smollm2", **extra: Any) -> Any:
    return client.chat.completions.create(
        model=model, messages=ASK, max_tokens=max_tokens, temperature=0, **extra
    )


def _thinking(message: Any) -> str:
    return (message.model_extra or {}).get("reasoning_content") or ""


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


def test_the_model_object_says_it_reasons(client: openai.OpenAI) -> None:
    model = client.models.retrieve("smollm2").model_dump()
    reasoning = model["capabilities"]["reasoning"]
    assert (reasoning["start"], reasoning["end"], reasoning["opened_by_template"]) == (
        "<think>",
        ".",
        True,
    )
    assert reasoning["efforts"] == {
        "none": 0,
        "minimal": 256,
        "low": 1024,
        "medium": 4096,
        "high": 16384,
        "xhigh": 32768,
        "max": None,
    }
    assert client.models.retrieve("plain").model_dump()["capabilities"]["reasoning"] is None


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


# --- effort and budget: the server closes the thinking ----------------------------------


def test_without_a_budget_the_thinker_never_stops_thinking(client: openai.OpenAI) -> None:
    resp = _ask(client, model="thinker", max_tokens=30)
    assert resp.choices[0].finish_reason == "length"
    assert resp.choices[0].message.content == ""
    assert resp.usage.completion_tokens_details.reasoning_tokens == 30


def test_a_spent_budget_closes_the_thinking_and_the_answer_follows(
    client: openai.OpenAI, marker_tokens: int
) -> None:
    unbounded = _thinking(_ask(client, model="thinker", max_tokens=30).choices[0].message)
    resp = _ask(client, model="thinker", reasoning_effort="low")
    message = resp.choices[0].message
    thinking = _thinking(message)
    # the first LOW tokens of what it would have thought, then the forced end marker
    assert thinking and unbounded.startswith(thinking) and len(thinking) < len(unbounded)
    assert "</think>" not in thinking + (message.content or "")
    assert message.content and message.content.strip()
    usage = resp.usage
    assert usage.completion_tokens_details.reasoning_tokens == LOW + marker_tokens
    assert usage.completion_tokens > LOW + marker_tokens  # the answer's tokens follow
    assert_valid("CreateChatCompletionResponse", resp.model_dump(exclude_unset=True))


def test_an_exact_budget_and_the_other_efforts(client: openai.OpenAI, marker_tokens: int) -> None:
    def spent(**extra: Any) -> int:
        resp = _ask(client, model="thinker", max_tokens=40, **extra)
        return int(resp.usage.completion_tokens_details.reasoning_tokens)

    assert spent(extra_body={"reasoning_budget_tokens": 5}) == 5 + marker_tokens
    assert spent(reasoning_effort="minimal") == MINIMAL + marker_tokens
    assert spent(reasoning_effort="max") == 40  # no limit: it thinks to max_tokens


def test_effort_none_closes_the_block_at_once(client: openai.OpenAI, marker_tokens: int) -> None:
    resp = _ask(client, model="thinker", reasoning_effort="none")
    message = resp.choices[0].message
    assert _thinking(message) == ""
    assert message.content and message.content.strip()
    assert resp.usage.completion_tokens_details.reasoning_tokens == marker_tokens


def test_a_budget_streamed_says_the_same(client: openai.OpenAI) -> None:
    whole = _ask(client, model="thinker", reasoning_effort="low").choices[0].message
    thinking, answer = "", ""
    stream = _ask(client, model="thinker", reasoning_effort="low", stream=True)
    for chunk in stream:
        for choice in chunk.choices:
            thinking += (choice.delta.model_extra or {}).get("reasoning_content") or ""
            answer += choice.delta.content or ""
    assert (thinking, answer) == (_thinking(whole), whole.content)


def test_every_choice_gets_the_budget(client: openai.OpenAI, marker_tokens: int) -> None:
    single = _ask(client, model="thinker", reasoning_effort="low")
    resp = _ask(client, model="thinker", reasoning_effort="low", n=2)
    assert [_thinking(c.message) for c in resp.choices] == [
        _thinking(single.choices[0].message)
    ] * 2
    assert resp.usage.completion_tokens_details.reasoning_tokens == 2 * (LOW + marker_tokens)


SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "population"],
    "additionalProperties": False,
}


def test_a_json_schema_binds_the_answer_and_the_thinking_stays_free(
    client: openai.OpenAI, marker_tokens: int
) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "city", "schema": SCHEMA}}
    resp = _ask(client, model="thinker", reasoning_effort="low", response_format=fmt)
    message = resp.choices[0].message
    free = _thinking(message)
    # prose, where the grammar would have forced "{" first: it did not bind the thinking
    assert free and not free.lstrip().startswith("{") and " " in free.strip()
    assert resp.usage.completion_tokens_details.reasoning_tokens == LOW + marker_tokens
    jsonschema.validate(json.loads(message.content or ""), SCHEMA)
    streamed = ""
    for chunk in _ask(
        client, model="thinker", reasoning_effort="low", response_format=fmt, stream=True
    ):
        streamed += "".join(c.delta.content or "" for c in chunk.choices)
    assert streamed == message.content


WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def test_a_forced_tool_call_follows_the_thinking(client: openai.OpenAI) -> None:
    resp = _ask(
        client, model="thinker", reasoning_effort="low", tools=[WEATHER], tool_choice="required"
    )
    message = resp.choices[0].message
    assert _thinking(message)
    assert message.tool_calls and message.tool_calls[0].function.name == "weather"
    assert "city" in json.loads(message.tool_calls[0].function.arguments)
    assert resp.choices[0].finish_reason == "tool_calls"


def test_a_model_that_does_not_reason_takes_only_none(client: openai.OpenAI) -> None:
    assert _ask(client, model="plain", reasoning_effort="none", max_tokens=5).choices
    for extra in ({"reasoning_effort": "low"}, {"extra_body": {"reasoning_budget_tokens": 8}}):
        with pytest.raises(openai.BadRequestError) as info:
            _ask(client, model="plain", **extra)
        body = info.value.body
        assert isinstance(body, dict)
        assert body["param"] in ("reasoning_effort", "reasoning_budget_tokens")
        assert body["type"] == "invalid_request_error" and isinstance(body["code"], str)
    with pytest.raises(openai.BadRequestError) as info:
        _ask(client, model="thinker", reasoning_effort="extreme")
    assert info.value.body["param"] == "reasoning_effort"  # type: ignore[index]


# --- a Qwen3-architecture GGUF: detected from its template -----------------------------


def _qwen3(client: openai.OpenAI, messages: list[dict[str, Any]], **extra: Any) -> Any:
    return client.chat.completions.create(
        model="qwen3",
        messages=messages,
        max_tokens=6,
        temperature=0,
        **extra,  # type: ignore[arg-type]
    )


def test_qwen3_thinking_is_detected_from_its_template(client: openai.OpenAI) -> None:
    _qwen3(client, ASK)  # loaded: the template was read
    reasoning = client.models.retrieve("qwen3").model_dump()["capabilities"]["reasoning"]
    assert {k: reasoning[k] for k in ("start", "end", "opened_by_template", "switch")} == {
        "start": "<think>",
        "end": "</think>",
        "opened_by_template": False,
        "switch": "enable_thinking",
    }


def test_qwen3_effort_none_sets_enable_thinking_false(client: openai.OpenAI, qwen3: Path) -> None:
    default = _qwen3(client, ASK)
    off = _qwen3(client, ASK, reasoning_effort="none")
    # the template wrote its empty block after the generation prompt
    vocab = llama_cpp.Llama(str(qwen3), vocab_only=True, verbose=False)
    head = b"<|im_start|>assistant\n"
    block = len(vocab.tokenize(head + b"<think>\n\n</think>\n\n", add_bos=False, special=True))
    block -= len(vocab.tokenize(head, add_bos=False, special=True))
    assert off.usage.prompt_tokens - default.usage.prompt_tokens == block >= 2
    assert off.choices[0].message.content
    assert off.usage.completion_tokens_details is None or (
        off.usage.completion_tokens_details.reasoning_tokens == 0
    )


def test_qwen3_answering_at_once_under_a_schema_is_bound_from_its_first_token(
    client: openai.OpenAI,
) -> None:
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "ok", "schema": schema}}
    resp = client.chat.completions.create(
        model="qwen3",
        messages=ASK,
        max_tokens=40,
        temperature=0,
        response_format=fmt,  # type: ignore[arg-type]
    )
    # the tiny model never opens a block: its first token is the answer's, under the grammar
    jsonschema.validate(json.loads(resp.choices[0].message.content or ""), schema)


def test_qwen3_keeps_earlier_thinking_only_where_its_template_does(
    client: openai.OpenAI,
) -> None:
    def prompt(reasoning: str | None, tail: list[dict[str, Any]]) -> int:
        turn: dict[str, Any] = {"role": "assistant", "content": "Paris is big."}
        if tail and tail[0]["role"] == "tool":
            turn = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": "{}"},
                    }
                ],
            }
        if reasoning is not None:
            turn["reasoning_content"] = reasoning
        return int(_qwen3(client, [*ASK, turn, *tail]).usage.prompt_tokens)

    thought = "I should mention the river and the museums."
    again = [{"role": "user", "content": "And Rome?"}]
    assert prompt(thought, again) == prompt(None, again)  # an earlier turn's: dropped
    tool = [{"role": "tool", "tool_call_id": "c1", "content": "sunny"}]
    assert prompt(thought, tool) > prompt(None, tool)  # the current turn's: kept


# --- the Responses API: reasoning items, their events, and giving them back -------------


def _respond(client: openai.OpenAI, **extra: Any) -> Any:
    return client.responses.create(
        model="thinker", input=ASK[0]["content"], max_output_tokens=60, temperature=0, **extra
    )


def test_a_response_carries_the_thinking_as_a_reasoning_item(
    client: openai.OpenAI, marker_tokens: int
) -> None:
    chat = _ask(client, model="thinker", reasoning_effort="low").choices[0].message
    resp = _respond(client, reasoning={"effort": "low"})
    assert_valid("Response", resp.model_dump(exclude_unset=True, by_alias=True))
    thought, message = resp.output
    assert thought.type == "reasoning" and thought.id.startswith("rs_")
    assert [c.text for c in thought.content] == [_thinking(chat)]
    assert thought.summary == []  # no summary asked for
    assert message.type == "message" and resp.output_text == chat.content
    assert resp.reasoning.effort == "low"
    assert resp.usage.output_tokens_details.reasoning_tokens == LOW + marker_tokens
    summarised = _respond(client, reasoning={"effort": "low", "summary": "auto"})
    assert [s.text for s in summarised.output[0].summary] == [_thinking(chat)]  # its own words


def test_reasoning_streams_with_the_spec_events(client: openai.OpenAI) -> None:
    whole = _respond(client, reasoning={"effort": "low", "summary": "detailed"})
    types: list[str] = []
    thinking, summary, final = "", "", None
    for event in _respond(client, reasoning={"effort": "low", "summary": "detailed"}, stream=True):
        assert_valid("ResponseStreamEvent", event.model_dump(exclude_unset=True, by_alias=True))
        types.append(event.type)
        if event.type == "response.reasoning_text.delta":
            thinking += event.delta
        elif event.type == "response.reasoning_summary_text.delta":
            summary += event.delta
        elif event.type in ("response.completed", "response.incomplete"):
            final = event.response
    assert thinking == summary == whole.output[0].content[0].text
    assert types[2:5] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_summary_part.added",
    ]
    done = types.index("response.reasoning_text.done")
    assert types[done : done + 5] == [
        "response.reasoning_text.done",
        "response.content_part.done",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
    ]
    assert types[done + 5] == "response.output_item.added"  # then the answer's message
    assert final is not None
    assert [i.type for i in final.output] == ["reasoning", "message"]
    assert final.output_text == whole.output_text


def test_reasoning_items_can_be_given_back(client: openai.OpenAI) -> None:
    first = _respond(client, reasoning={"effort": "low"})
    again = [{"role": "user", "content": "And Rome?"}]
    follow = _respond(client, reasoning={"effort": "low"}, previous_response_id=first.id)
    assert follow.status == "completed" and follow.output[0].type == "reasoning"
    by_hand = client.responses.create(
        model="thinker",
        input=[
            {"role": "user", "content": ASK[0]["content"]},
            *[item.model_dump(exclude_unset=True) for item in first.output],
            *again,
        ],
        reasoning={"effort": "low"},
        max_output_tokens=30,
    )
    assert by_hand.output[0].type == "reasoning"


def test_what_the_responses_api_cannot_honour_is_refused_by_name(client: openai.OpenAI) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"include": ["reasoning.encrypted_content"]}, "include"),
        ({"model": "plain", "reasoning": {"effort": "high"}}, "reasoning.effort"),
        ({"reasoning": {"effort": "low", "context": "all_turns"}}, "reasoning.context"),
        (
            {
                "input": [
                    {"type": "reasoning", "summary": [], "encrypted_content": "sealed"},
                    {"role": "user", "content": "hi"},
                ]
            },
            "input[0].encrypted_content",
        ),
    ]
    for extra, param in cases:
        body: dict[str, Any] = {"model": "thinker", "input": "hi", "max_output_tokens": 16}
        with pytest.raises(openai.BadRequestError) as info:
            client.responses.create(**{**body, **extra})
        assert info.value.body["param"] == param, extra  # type: ignore[index]


def test_tools_with_a_format_follow_the_thinking(client: openai.OpenAI) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "city", "schema": SCHEMA}}
    resp = _ask(
        client,
        model="thinker",
        reasoning_effort="low",
        tools=[WEATHER],
        tool_choice="auto",
        response_format=fmt,
        max_tokens=120,
    )
    choice = resp.choices[0]
    assert _thinking(choice.message) and not _thinking(choice.message).lstrip().startswith("{")
    if choice.message.tool_calls:
        assert choice.finish_reason == "tool_calls"
        assert "city" in json.loads(choice.message.tool_calls[0].function.arguments)
    else:
        jsonschema.validate(json.loads(choice.message.content or ""), SCHEMA)
