"""Tool-call parsing, forced-call schemas and schema checks (pure functions)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import jsonschema
import msgspec
import pytest

from modelport.core.errors import Unsupported
from modelport.core.features import Feature
from modelport.core.outputs import Mode, prepare, shape
from modelport.core.structured import check_schema, validates
from modelport.core.tools import CallStream, call_schema, parse_calls, parse_forced, tool_messages
from modelport.core.types import (
    ChatEvent,
    ChatRequest,
    Finish,
    Message,
    ResponseFormat,
    Started,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    Usage,
)

TOOLS = (
    Tool(
        name="get_weather",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}},
    ),
    Tool(name="get_time", parameters={"type": "object"}),
)
WEATHER = TOOLS[0]


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>',
        '  <tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
        '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}}]',
        '{"name": "get_weather", "parameters": {"city": "Paris"}}',
        '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}',
    ],
)
def test_parse_calls_formats(text: str) -> None:
    rest, calls = parse_calls(text, TOOLS)
    assert rest == ""
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert calls[0].id.startswith("call_")


def test_parse_calls_ignores_unknown_functions_and_plain_text() -> None:
    assert parse_calls('{"name": "rm_rf", "arguments": {}}', TOOLS)[1] == []
    assert parse_calls("The weather is nice.", TOOLS) == ("The weather is nice.", [])
    two = (
        '<tool_call>{"name": "get_time", "arguments": {}}</tool_call>'
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
    )
    assert [c.name for c in parse_calls(two, TOOLS)[1]] == ["get_time", "get_weather"]


def test_call_schema_accepts_only_real_calls() -> None:
    one = call_schema(TOOLS, only="get_weather", parallel=True)
    jsonschema.validate({"name": "get_weather", "arguments": {"city": "x"}}, one)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "get_time", "arguments": {}}, one)
    many = call_schema(TOOLS, only=None, parallel=True)
    jsonschema.validate([{"name": "get_time", "arguments": {}}], many)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([], many)
    assert parse_forced('[{"name": "get_time", "arguments": {}}]', TOOLS)[0].name == "get_time"


def test_tool_messages_render_calls_and_results() -> None:
    messages = (
        Message(role="user", content="weather?"),
        Message(
            role="assistant",
            tool_calls=(ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}'),),
        ),
        Message(role="tool", content="21C", tool_call_id="call_1"),
    )
    out = tool_messages(messages, TOOLS)
    assert out[0].role == "system" and "<tools>" in out[0].text()
    assert (
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
        in out[2].text()
    )
    assert out[3].text() == "<tool_response>\n21C\n</tool_response>"


def test_check_schema_names_the_unsupported_keyword() -> None:
    check_schema({"type": "object", "properties": {"a": {"type": "integer", "minimum": 0}}}, "s")
    with pytest.raises(Unsupported) as info:
        check_schema({"type": "array", "items": {"uniqueItems": True}}, "s")
    assert info.value.param == "s.items.uniqueItems"
    with pytest.raises(Unsupported):
        check_schema({"$ref": "https://example.com/schema.json"}, "s")


def test_validates() -> None:
    schema = {"type": "object", "required": ["a"]}
    assert validates('{"a": 1}', schema)
    assert not validates('{"b": 1}', schema)
    assert not validates('{"a": ', schema)
    assert validates("{}", None)
    assert not validates("[1]", None)


def _assemble(deltas: list[ToolCallDelta]) -> dict[int, tuple[str, str, str]]:
    calls: dict[int, list[str]] = {}
    for d in deltas:
        call = calls.setdefault(d.index, ["", "", ""])
        if d.id:
            assert not call[0], "one first delta per call"
            assert not call[2], "the name comes before any arguments"
        call[0], call[1] = d.id or call[0], d.name or call[1]
        call[2] += d.arguments
    return {i: (c[0], c[1], c[2]) for i, c in calls.items()}


@pytest.mark.parametrize("size", [1, 3, 100])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"name": "get_weather", "arguments": {"city": "Pa\\"ris}", "n": [1, {"a": 2}]}}',
            [("get_weather", {"city": 'Pa"ris}', "n": [1, {"a": 2}]})],
        ),
        (
            '[{"name": "a", "arguments": {"x": 1}}, {"name": "b", "arguments": {}}]',
            [("a", {"x": 1}), ("b", {})],
        ),
        ('{"arguments": {"q": "]"}, "name": "late"}', [("late", {"q": "]"})]),
    ],
)
def test_call_stream_streams_calls_as_they_are_written(
    text: str, expected: list[tuple[str, object]], size: int
) -> None:
    stream = CallStream()
    deltas = [d for i in range(0, len(text), size) for d in stream.feed(text[i : i + size])]
    calls = _assemble(deltas)
    assert [(c[1], json.loads(c[2])) for _, c in sorted(calls.items())] == expected
    assert all(c[0].startswith("call_") for c in calls.values())
    assert stream.calls == len(expected) and stream.text == text


def test_call_stream_sends_arguments_before_the_call_ends() -> None:
    stream = CallStream()
    assert [d.name for d in stream.feed('{"name": "f", "arguments": {"city": "Pa')] == ["f", None]
    assert [d.arguments for d in stream.feed('ris"}')] == ['ris"}']
    assert stream.feed("}") == []


# --- tools with a response format: one grammar, a call or the answer --------------------

FORMAT = ResponseFormat(
    type="json_schema",
    name="city",
    schema={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def _combined(**changes: object) -> ChatRequest:
    request = ChatRequest(
        model="m",
        messages=(Message(role="user", content="Weather in Paris?"),),
        tools=(WEATHER,),
        response_format=FORMAT,
    )
    return msgspec.structs.replace(request, **changes)


def test_auto_tools_with_a_format_get_one_grammar_for_either() -> None:
    request, mode = prepare(_combined(), frozenset({Feature.JSON_SCHEMA}))
    assert mode is Mode.TOOLS_OR_JSON and request.constraint is not None
    schema = request.constraint.schema
    call = {"name": "get_weather", "arguments": {"city": "Paris"}}
    jsonschema.validate(call, schema)  # a call fits the grammar ...
    jsonschema.validate({"city": "Paris"}, schema)  # ... and so does an answer
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"town": 1}, schema)
    assert "Either call one of the functions" in request.messages[0].text()
    with pytest.raises(Unsupported) as info:  # no constrained decoding: refused by name
        prepare(_combined(), frozenset())
    assert info.value.param == "response_format"


def test_forced_and_none_keep_their_own_modes_with_a_format() -> None:
    features = frozenset({Feature.JSON_SCHEMA})
    forced, mode = prepare(_combined(tool_choice=ToolChoice(mode="required")), features)
    assert mode is Mode.TOOLS_FORCED  # this turn calls; the format is for the answer turn
    assert forced.constraint is not None and "anyOf" not in forced.constraint.schema
    _, mode = prepare(_combined(tool_choice=ToolChoice(mode="none")), features)
    assert mode is Mode.JSON


async def _shaped(text: str) -> list[object]:
    request, mode = prepare(_combined(), frozenset({Feature.JSON_SCHEMA}))

    async def events() -> AsyncIterator[ChatEvent]:
        yield Started(prompt_tokens=3)
        yield TextDelta(text=text[:5], tokens=1)
        yield TextDelta(text=text[5:], tokens=2)
        yield Finish(reason="stop", usage=Usage(prompt_tokens=3, completion_tokens=3))

    return [e async for e in shape(events(), request, mode)]


def test_whichever_came_is_parsed() -> None:
    call = asyncio.run(_shaped('{"name": "get_weather", "arguments": {"city": "Paris"}}'))
    deltas = [e for e in call if isinstance(e, ToolCallDelta)]
    assert deltas[0].name == "get_weather" and call[-1].reason == "tool_calls"  # type: ignore[union-attr]
    answer = asyncio.run(_shaped('{"city": "Paris"}'))
    assert [e.text for e in answer if isinstance(e, TextDelta)] == ['{"city": "Paris"}']
    assert answer[-1].reason == "stop"  # type: ignore[union-attr]
    cut = asyncio.run(_shaped('{"city": "Pa'))
    assert cut[-1].reason == "length"  # type: ignore[union-attr]
