"""Pure functions from the wire request to core requests."""

from __future__ import annotations

from modelport.core import types as core
from modelport.core.errors import InvalidRequest, Unsupported

from ..sampling import (
    check_stream_options,
    sampling_of,
)
from . import wire

__all__ = ["chat_request", "messages_of"]


def _refuse_unhonoured(req: wire.ChatCompletionRequest) -> None:
    refused = {
        "audio": req.audio is not None,
        "modalities": req.modalities not in (None, ["text"]),
        "prediction": req.prediction is not None,
        "web_search_options": req.web_search_options is not None,
        "functions": req.functions is not None,
        "function_call": req.function_call is not None,
        "verbosity": req.verbosity is not None,
    }
    for param, is_set in refused.items():
        if is_set:
            raise Unsupported(
                f"'{param}' is not supported by modelport's chat completions", param=param
            )


def _text_content(content: str | list[wire.TextPart]) -> str | tuple[core.ContentPart, ...]:
    if isinstance(content, str):
        return content
    return tuple(core.TextPart(text=p.text) for p in content)


def _user_content(content: str | list[wire.UserPart], i: int) -> str | tuple[core.ContentPart, ...]:
    if isinstance(content, str):
        return content
    parts: list[core.ContentPart] = []
    for j, part in enumerate(content):
        if isinstance(part, wire.TextPart):
            parts.append(core.TextPart(text=part.text))
        elif isinstance(part, wire.ImageUrlPart):
            parts.append(core.ImagePart(url=part.image_url.url, detail=part.image_url.detail))
        else:
            kind = "input_audio" if isinstance(part, wire.InputAudioPart) else "file"
            raise Unsupported(
                f"content parts of type '{kind}' are not supported",
                param=f"messages[{i}].content[{j}]",
            )
    return tuple(parts)


def _assistant(msg: wire.AssistantMessage, i: int) -> core.Message:
    if isinstance(msg.content, list):
        text = "".join(p.text if isinstance(p, wire.TextPart) else p.refusal for p in msg.content)
    else:
        text = msg.content or ""
    calls = tuple(
        core.ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
        for c in (msg.tool_calls or [])
    )
    return core.Message(
        role="assistant",
        content=text or None,
        tool_calls=calls,
        name=msg.name or None,
        reasoning=msg.reasoning_content or msg.reasoning or None,
    )


def _message(msg: wire.Message, i: int) -> core.Message:
    if isinstance(msg, wire.SystemMessage | wire.DeveloperMessage):
        role: core.Role = "system" if isinstance(msg, wire.SystemMessage) else "developer"
        return core.Message(role=role, content=_text_content(msg.content), name=msg.name or None)
    if isinstance(msg, wire.UserMessage):
        return core.Message(
            role="user", content=_user_content(msg.content, i), name=msg.name or None
        )
    if isinstance(msg, wire.AssistantMessage):
        return _assistant(msg, i)
    if isinstance(msg, wire.ToolMessage):
        return core.Message(
            role="tool", content=_text_content(msg.content), tool_call_id=msg.tool_call_id
        )
    raise Unsupported(
        "the deprecated 'function' role is not supported; use 'tool' messages",
        param=f"messages[{i}].role",
    )


def messages_of(messages: list[wire.Message]) -> tuple[core.Message, ...]:
    """Chat messages as core's (errors name ``messages[i]``)."""
    return tuple(_message(m, i) for i, m in enumerate(messages))


def _tool_choice(choice: str | wire.NamedToolChoice | None) -> core.ToolChoice:
    if choice is None:
        return core.ToolChoice()
    if isinstance(choice, str):
        return core.ToolChoice(mode=choice)  # type: ignore[arg-type]
    return core.ToolChoice(mode="function", function=choice.function.name)


def _response_format(fmt: wire.ResponseFormat | None) -> core.ResponseFormat:
    if fmt is None or isinstance(fmt, wire.TextFormat):
        return core.ResponseFormat()
    if isinstance(fmt, wire.JsonObjectFormat):
        return core.ResponseFormat(type="json_object")
    spec = fmt.json_schema
    schema = spec.schema if isinstance(spec.schema, dict) else {}
    return core.ResponseFormat(
        type="json_schema", name=spec.name, schema=schema, strict=bool(spec.strict)
    )


def chat_request(req: wire.ChatCompletionRequest) -> core.ChatRequest:
    _refuse_unhonoured(req)
    check_stream_options(req)
    if req.top_logprobs is not None and not req.logprobs:
        raise InvalidRequest(
            "top_logprobs needs logprobs set to true", param="top_logprobs", code="invalid_value"
        )
    if req.tool_choice not in (None, "none") and not req.tools:
        raise InvalidRequest("tool_choice needs tools", param="tool_choice", code="invalid_value")
    tools = tuple(
        core.Tool(
            name=t.function.name,
            description=t.function.description or None,
            parameters=t.function.parameters or {},
            strict=bool(t.function.strict),
        )
        for t in (req.tools or [])
    )
    max_tokens = req.max_completion_tokens or req.max_tokens
    return core.ChatRequest(
        model=req.model,
        messages=messages_of(req.messages),
        sampling=sampling_of(req, max_tokens, bool(req.logprobs), req.top_logprobs),
        tools=tools,
        tool_choice=_tool_choice(req.tool_choice),
        parallel_tool_calls=req.parallel_tool_calls is not False,
        response_format=_response_format(req.response_format),
        user=req.user,
        reasoning_effort=req.reasoning_effort,
        reasoning_budget=req.reasoning_budget_tokens,
    )
