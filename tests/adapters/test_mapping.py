"""Golden pairs: OpenAI wire JSON → core requests (pure functions)."""

from __future__ import annotations

import msgspec
import pytest

from modelport.adapters.openai.chat.mapping import chat_request
from modelport.adapters.openai.chat.wire import ChatCompletionRequest
from modelport.adapters.openai.common import decode
from modelport.adapters.openai.completions.mapping import completion_requests
from modelport.adapters.openai.completions.wire import CompletionRequest
from modelport.adapters.openai.embeddings.mapping import embed_request
from modelport.adapters.openai.embeddings.wire import EmbeddingRequest
from modelport.core import types as core
from modelport.core.errors import InvalidRequest, Unsupported


def _chat(body: dict) -> core.ChatRequest:
    return chat_request(decode(msgspec.json.encode(body), ChatCompletionRequest))


def test_chat_golden() -> None:
    req = _chat(
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "be brief"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"a": 1}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "42"},
            ],
            "temperature": 0.5,
            "max_tokens": 10,
            "max_completion_tokens": 7,
            "stop": "x",
            "seed": 3,
            "top_k": 5,
            "unknown": True,
        }
    )
    assert msgspec.json.decode(msgspec.json.encode(req)) == {
        "model": "m",
        "messages": [
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}],
            },
            {
                "role": "assistant",
                "tool_calls": [{"id": "call_1", "name": "f", "arguments": '{"a": 1}'}],
            },
            {"role": "tool", "content": "42", "tool_call_id": "call_1"},
        ],
        "sampling": {"max_tokens": 7, "temperature": 0.5, "top_k": 5, "seed": 3, "stop": ["x"]},
        "tool_choice": {},
        "response_format": {},
    }
    assert req.messages[1].text() == "hi there"


def test_tools_and_formats_map() -> None:
    req = _chat(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "tools": [
                {
                    "type": "function",
                    "function": {"name": "get", "parameters": {"type": "object"}, "strict": True},
                }
            ],
            "tool_choice": {"type": "function", "function": {"name": "get"}},
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "s", "schema": {"type": "object"}, "strict": True},
            },
            "logit_bias": {"50256": -100},
        }
    )
    assert req.tools == (core.Tool(name="get", parameters={"type": "object"}, strict=True),)
    assert req.tool_choice == core.ToolChoice(mode="function", function="get")
    assert req.response_format.type == "json_schema" and req.response_format.strict
    assert req.sampling.logit_bias == {50256: -100.0}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"audio": {}}, "audio"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
        ({"messages": [{"role": "function", "name": "f", "content": "x"}]}, "messages[0].role"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}
                        ],
                    }
                ]
            },
            "messages[0].content[0]",
        ),
    ],
)
def test_unhonoured_fields_are_refused(body: dict, param: str) -> None:
    with pytest.raises(Unsupported) as info:
        _chat({"model": "m", "messages": [{"role": "user", "content": "x"}], **body})
    assert info.value.param == param


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"top_logprobs": 3}, "top_logprobs", "invalid_value"),
        ({"tool_choice": "required"}, "tool_choice", "invalid_value"),
        ({"logit_bias": {"abc": 1}}, "logit_bias", "invalid_value"),
        ({"top_p": 1.5}, "top_p", "value_above_maximum"),
        ({"n": 0}, "n", "value_below_minimum"),
        ({"messages": [{"role": "user"}]}, "messages[0].content", "missing_required_parameter"),
    ],
)
def test_invalid_values(body: dict, param: str, code: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        _chat({"model": "m", "messages": [{"role": "user", "content": "x"}], **body})
    assert (info.value.param, info.value.code) == (param, code)


def test_completion_prompts() -> None:
    def reqs(prompt: object) -> list[core.CompletionRequest]:
        body = msgspec.json.encode({"model": "m", "prompt": prompt})
        return completion_requests(decode(body, CompletionRequest))

    assert [r.prompt for r in reqs("a")] == ["a"]
    assert [r.prompt for r in reqs(["a", "b"])] == ["a", "b"]
    assert [r.prompt for r in reqs([1, 2])] == [(1, 2)]
    assert [r.prompt for r in reqs([[1], [2, 3]])] == [(1,), (2, 3)]
    for bad in ([], [1, "a"], [[1], []], [-1]):
        with pytest.raises(InvalidRequest):
            reqs(bad)


def test_embedding_inputs() -> None:
    def req(value: object) -> core.EmbedRequest:
        body = msgspec.json.encode({"model": "m", "input": value, "dimensions": 4})
        return embed_request(decode(body, EmbeddingRequest))

    assert req("a").inputs == ("a",)
    assert req([[1, 2]]).inputs == ((1, 2),)
    assert req("a").dimensions == 4
    with pytest.raises(InvalidRequest) as info:
        req(["a", ""])
    assert info.value.param == "input[1]"
