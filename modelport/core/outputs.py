"""Tools and structured outputs on top of any chat backend that can constrain decoding.

``prepare`` turns a chat request into what the backend generates (the generic tool
prompt, the schema instruction, a ``Constraint``); ``shape`` turns the backend's text back
into what the client asked for (tool calls, validated JSON).
"""

from __future__ import annotations

import enum
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import msgspec

from .capabilities import Feature
from .errors import InvalidRequest, Unsupported
from .structured import (
    call_or_answer_instruction,
    check_schema,
    schema_instruction,
    validates,
)
from .tools import (
    TOOL_MARKERS,
    CallStream,
    call_schema,
    check_tool_results,
    parse_calls,
    parse_forced,
    tool_messages,
)
from .types import (
    ChatEvent,
    ChatRequest,
    Constraint,
    Finish,
    FinishReason,
    Message,
    TextDelta,
    ToolCall,
    ToolCallDelta,
)

__all__ = ["Mode", "prepare", "shape"]

ARGUMENT_FRAGMENT = 24  # characters of arguments per streamed tool-call delta


class Mode(enum.Enum):
    TEXT = "text"
    JSON = "json"
    TOOLS_AUTO = "tools_auto"
    TOOLS_FORCED = "tools_forced"
    # tool_choice "auto" with a response_format: a call, or the answer in the format
    TOOLS_OR_JSON = "tools_or_json"


def _with_system(messages: tuple[Message, ...], text: str) -> tuple[Message, ...]:
    if messages and messages[0].role in ("system", "developer"):
        first = Message(role=messages[0].role, content=f"{messages[0].text()}\n\n{text}")
        return (first, *messages[1:])
    return (Message(role="system", content=text), *messages)


def _mode(request: ChatRequest) -> Mode:
    choice = request.tool_choice
    if request.tools and choice.mode in ("required", "function"):
        return Mode.TOOLS_FORCED
    if request.tools and choice.mode == "auto":
        return Mode.TOOLS_AUTO if request.response_format.type == "text" else Mode.TOOLS_OR_JSON
    if request.response_format.type != "text":
        return Mode.JSON
    return Mode.TEXT


def _check_tool_choice(request: ChatRequest) -> None:
    choice = request.tool_choice
    if choice.mode == "function" and choice.function not in {t.name for t in request.tools}:
        raise InvalidRequest(
            f"tool_choice names '{choice.function}', which is not in tools",
            param="tool_choice",
            code="invalid_value",
        )
    for i, tool in enumerate(request.tools):
        param = f"tools[{i}].function.parameters"
        check_schema(tool.parameters or {"type": "object"}, param)
        _check_meta_schema(tool.parameters or {"type": "object"}, param)


def prepare(request: ChatRequest, features: frozenset[Feature]) -> tuple[ChatRequest, Mode]:
    """The request the backend generates from, and how to shape its output."""
    try:
        return _prepare(request, features)
    except RecursionError:
        raise InvalidRequest(
            "a JSON Schema in the request is nested too deeply",
            param="tools" if request.tools else "response_format",
            code="invalid_value",
        ) from None


def _prepare(request: ChatRequest, features: frozenset[Feature]) -> tuple[ChatRequest, Mode]:
    check_tool_results(request.messages)
    mode = _mode(request)
    replace = msgspec.structs.replace
    if request.tools:
        _check_tool_choice(request)
    if mode is Mode.TOOLS_OR_JSON:
        return _call_or_answer(request, features), mode
    if mode is Mode.TOOLS_FORCED:  # (a response_format applies to a later answer turn)
        if Feature.JSON_SCHEMA not in features:
            raise Unsupported(
                f"model {request.model!r} cannot force tool calls (it has no "
                "constrained decoding); use tool_choice 'auto'",
                param="tool_choice",
            )
        only = request.tool_choice.function
        calls = call_schema(request.tools, only=only, parallel=request.parallel_tool_calls)
        messages = tool_messages(request.messages, request.tools)
        return replace(request, messages=messages, constraint=Constraint(schema=calls)), mode
    if mode is Mode.TOOLS_AUTO:
        return replace(request, messages=tool_messages(request.messages, request.tools)), mode
    if request.tools:  # tool_choice "none": the model never sees the tools
        request = replace(request, messages=tool_messages(request.messages, ()))
    if mode is Mode.JSON:
        schema = _answer_schema(request)
        messages = _with_system(request.messages, schema_instruction(schema))
        return replace(request, messages=messages, constraint=Constraint(schema=schema)), mode
    return request, mode


def _answer_schema(request: ChatRequest) -> dict[str, Any] | None:
    """The response_format's schema, checked (None for ``json_object``)."""
    fmt = request.response_format
    schema: dict[str, Any] | None = fmt.schema if fmt.type == "json_schema" else None
    if schema is not None:
        check_schema(schema, "response_format.json_schema.schema")
        _check_meta_schema(schema, "response_format.json_schema.schema")
    return schema


def _call_or_answer(request: ChatRequest, features: frozenset[Feature]) -> ChatRequest:
    """Tools the model may call and a response format: one grammar admits either a call
    (the bare JSON call object ``{"name", "arguments"}`` that the tool parser reads, the
    Llama-3 style) or a JSON answer valid against the format."""
    if Feature.JSON_SCHEMA not in features:
        raise Unsupported(
            f"model {request.model!r} cannot combine tools with response_format (it has "
            "no constrained decoding); use tool_choice 'none' or drop response_format",
            param="response_format",
        )
    answer = _answer_schema(request)
    call = call_schema(request.tools, only=None, parallel=False)
    either: dict[str, object] = {
        "anyOf": [call, answer if answer is not None else {"type": "object"}]
    }
    messages = _with_system(
        tool_messages(request.messages, request.tools), call_or_answer_instruction(answer)
    )
    return msgspec.structs.replace(request, messages=messages, constraint=Constraint(schema=either))


def _check_meta_schema(schema: dict[str, object], param: str) -> None:
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InvalidRequest(
            f"invalid JSON Schema: {exc.message}", param=param, code="invalid_value"
        ) from None


async def shape(
    events: AsyncIterator[ChatEvent], request: ChatRequest, mode: Mode
) -> AsyncGenerator[ChatEvent, None]:
    if mode is Mode.TEXT:
        async for event in events:
            yield event
    elif mode is Mode.JSON:
        async for event in _checked_json(events, request):
            yield event
    elif mode is Mode.TOOLS_OR_JSON:
        async for event in _call_or_checked_json(events, request):
            yield event
    else:
        async for event in _tool_calls(events, request, mode):
            yield event


async def _checked_json(
    events: AsyncIterator[ChatEvent], request: ChatRequest
) -> AsyncIterator[ChatEvent]:
    """Pass the JSON through; a result that does not validate can only be one cut short,
    so its finish reason says ``length``."""
    schema = request.constraint.schema if request.constraint else None
    parts: list[str] = []
    async for event in events:
        if isinstance(event, TextDelta):
            parts.append(event.text)
        if isinstance(event, Finish) and not validates("".join(parts), schema):
            event = Finish(reason="length", usage=event.usage)
        yield event


async def _call_or_checked_json(
    events: AsyncIterator[ChatEvent], request: ChatRequest
) -> AsyncIterator[ChatEvent]:
    """The output held until it is complete, then either the call it holds (finish
    ``tool_calls``) or the answer, checked against the format like ``_checked_json``."""
    held: list[TextDelta] = []
    async for event in events:
        if isinstance(event, TextDelta):
            held.append(event)
        elif isinstance(event, Finish):
            text = "".join(d.text for d in held)
            calls = parse_forced(text, request.tools)
            if calls:
                for delta in call_deltas(calls):
                    yield delta
                yield Finish(reason="tool_calls", usage=event.usage)
                continue
            if text:
                yield TextDelta(text=text, tokens=sum(d.tokens for d in held))
            fmt = request.response_format
            schema = fmt.schema if fmt.type == "json_schema" else None
            if validates(text, schema):
                yield event
            else:
                yield Finish(reason="length", usage=event.usage)
        else:
            yield event


def call_deltas(calls: list[ToolCall], start: int = 0) -> list[ToolCallDelta]:
    """Each call as its first delta (id, name) then its arguments in fragments; the
    first call has index ``start``."""
    out: list[ToolCallDelta] = []
    for index, call in enumerate(calls, start):
        out.append(ToolCallDelta(index=index, id=call.id, name=call.name))
        args = call.arguments
        for start in range(0, len(args), ARGUMENT_FRAGMENT):
            out.append(
                ToolCallDelta(index=index, arguments=args[start : start + ARGUMENT_FRAGMENT])
            )
    return out


async def _forced_calls(
    events: AsyncIterator[ChatEvent], request: ChatRequest
) -> AsyncIterator[ChatEvent]:
    """Forced calls stream as they are generated (the grammar guarantees their shape);
    output cut short before the calls are complete finishes with ``length``."""
    stream = CallStream()
    async for event in events:
        if isinstance(event, TextDelta):
            for delta in stream.feed(event.text):
                yield delta
        elif isinstance(event, Finish):
            calls = parse_forced(stream.text, request.tools)
            for delta in call_deltas(calls[stream.calls :], start=stream.calls):
                yield delta  # (any the scanner could not stream)
            reason: FinishReason = "tool_calls" if calls else "length"
            yield Finish(reason=reason, usage=event.usage)
        else:
            yield event


async def _tool_calls(
    events: AsyncIterator[ChatEvent], request: ChatRequest, mode: Mode
) -> AsyncIterator[ChatEvent]:
    """``auto``: text that may hold calls is held back until the end (the model is free
    to write anything), plain text streams through. Forced calls stream as generated."""
    if mode is Mode.TOOLS_FORCED:
        async for event in _forced_calls(events, request):
            yield event
        return
    held: list[TextDelta] = []
    holding = False
    decided = False
    async for event in events:
        if isinstance(event, TextDelta):
            if not decided:
                so_far = "".join(d.text for d in held) + event.text
                stripped = so_far.lstrip()
                if stripped:
                    decided = True
                    holding = any(
                        m.startswith(stripped[: len(m)]) or stripped.startswith(m)
                        for m in TOOL_MARKERS
                    )
                    if not holding:
                        for d in held:
                            yield d
                        held = []
                        yield event
                        continue
            if holding or not decided:
                held.append(event)
            else:
                yield event
        elif isinstance(event, Finish):
            text = "".join(d.text for d in held)
            rest, calls = parse_calls(text, request.tools)
            if calls:
                for delta in call_deltas(calls):
                    yield delta
                yield Finish(reason="tool_calls", usage=event.usage)
                continue
            if rest:
                yield TextDelta(text=rest, tokens=sum(d.tokens for d in held))
            yield event
        else:
            yield event
