"""Tool-call parsing, forced-call schemas and schema checks (pure functions)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from modelport.core.errors import Unsupported
from modelport.core.structured import check_schema, validates
from modelport.core.tools import CallStream, call_schema, parse_calls, parse_forced, tool_messages
from modelport.core.types import Message, Tool, ToolCall, ToolCallDelta

TOOLS = (
    Tool(
        name="get_weather",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}},
    ),
    Tool(name="get_time", parameters={"type": "object"}),
)


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
