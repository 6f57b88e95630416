"""Anthropic requests as core chat requests, and core's parameter names as Anthropic's.

Anthropic's turns map onto core's messages: ``system`` is the first message; a user
turn's ``tool_result`` blocks become tool messages (before the rest of the turn, which
is what the model answers); an assistant turn's ``tool_use`` blocks become its tool
calls and its ``thinking`` its reasoning. Core names a failing part by its own message
index, so every core message and part remembers where it came from
(``messages.2.content.1``) and errors are renamed with :class:`Origins`.
"""

from __future__ import annotations

import json
import re

from modelport.core import types as core
from modelport.core.errors import InvalidRequest, ModelportError, Unsupported

from . import wire

__all__ = ["Origins", "chat_request", "core_messages"]


class Origins:
    """Where each core message (and each of its parts) came from in the request."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.parts: list[list[str]] = []

    def add(self, path: str, parts: list[str] | None = None) -> None:
        self.messages.append(path)
        self.parts.append(parts or [])

    def rename(self, param: str | None) -> str | None:
        """Core's name of a request field as the client sent it."""
        if param is None:
            return None
        found = re.fullmatch(r"messages\[(\d+)\](?:\.content\[(\d+)\])?(.*)", param)
        if found:
            k = int(found[1])
            if k < len(self.messages):
                path = self.messages[k]
                if found[2] is not None and int(found[2]) < len(self.parts[k]):
                    path = self.parts[k][int(found[2])]
                return path + found[3].replace("[", ".").replace("]", "")
        return _NAMES.get(param, param)

    def renamed(self, exc: ModelportError) -> ModelportError:
        """``exc`` naming the field as the client sent it (in its message too)."""
        old, new = exc.param, self.rename(exc.param)
        if old and new and old != new:
            exc.param = new
            exc.message = exc.message.replace(old, new)
        return exc


# Core's (OpenAI's) parameter names that Anthropic spells otherwise.
_NAMES = {
    "stop": "stop_sequences",
    "reasoning_budget_tokens": "thinking.budget_tokens",
    "reasoning_effort": "output_config.effort",
    "response_format": "output_config.format",
    "parallel_tool_calls": "tool_choice.disable_parallel_tool_use",
    "user": "metadata.user_id",
}


def _text(blocks: str | list[wire.TextBlock]) -> str:
    return blocks if isinstance(blocks, str) else "".join(b.text for b in blocks)


def _image(block: wire.ImageBlock) -> core.ImagePart:
    source = block.source
    if isinstance(source, wire.UrlSource):
        return core.ImagePart(url=source.url)
    return core.ImagePart(url=f"data:{source.media_type};base64,{source.data}")


def _document(block: wire.DocumentBlock, path: str) -> core.TextPart:
    source = block.source
    if isinstance(source, wire.PlainTextSource):
        text = source.data
    elif isinstance(source, wire.ContentSource):
        text = _text(source.content)
    else:
        raise Unsupported(
            "documents are read as text: give a text source or content blocks (PDFs are "
            "not read here)",
            param=f"{path}.source",
        )
    head = "\n\n".join(x for x in (block.title, block.context) if x)
    return core.TextPart(text=f"{head}\n\n{text}" if head else text)


def _tool_result(block: wire.ToolResultBlock, path: str) -> core.Message:
    if isinstance(block.content, str):
        text = block.content
    else:
        for j, part in enumerate(block.content):
            if isinstance(part, wire.ImageBlock):
                raise Unsupported(
                    "images in tool results are not supported; put the image in the user turn",
                    param=f"{path}.content.{j}",
                )
        text = _text([p for p in block.content if isinstance(p, wire.TextBlock)])
    if block.is_error:
        text = f"Error: {text}"
    return core.Message(role="tool", content=text, tool_call_id=block.tool_use_id)


def _user(message: wire.MessageParam, i: int, origins: Origins) -> list[core.Message]:
    path = f"messages.{i}"
    if isinstance(message.content, str):
        origins.add(path)
        return [core.Message(role="user", content=message.content)]
    results: list[core.Message] = []
    parts: list[core.ContentPart] = []
    paths: list[str] = []
    for j, block in enumerate(message.content):
        where = f"{path}.content.{j}"
        if isinstance(block, wire.ToolResultBlock):
            results.append(_tool_result(block, where))
            origins.add(where)
        elif isinstance(block, wire.TextBlock):
            parts.append(core.TextPart(text=block.text))
            paths.append(where)
        elif isinstance(block, wire.ImageBlock):
            parts.append(_image(block))
            paths.append(where)
        elif isinstance(block, wire.DocumentBlock):
            parts.append(_document(block, where))
            paths.append(where)
        else:
            raise InvalidRequest(
                f"a user turn cannot hold a {type(block).__name__} block",
                param=f"{where}.type",
                code="invalid_value",
            )
    if parts:
        origins.add(path, paths)
        results.append(core.Message(role="user", content=tuple(parts)))
    return results


def _assistant(message: wire.MessageParam, i: int, origins: Origins) -> core.Message:
    origins.add(f"messages.{i}")
    if isinstance(message.content, str):
        return core.Message(role="assistant", content=message.content)
    text: list[str] = []
    thinking: list[str] = []
    calls: list[core.ToolCall] = []
    for j, block in enumerate(message.content):
        where = f"messages.{i}.content.{j}"
        if isinstance(block, wire.TextBlock):
            text.append(block.text)
        elif isinstance(block, wire.ToolUseBlock):
            arguments = json.dumps(block.input)
            calls.append(core.ToolCall(id=block.id, name=block.name, arguments=arguments))
        elif isinstance(block, wire.ThinkingBlock):
            thinking.append(block.thinking)
        elif isinstance(block, wire.RedactedThinkingBlock):
            raise Unsupported(
                "redacted thinking is encrypted by another service; this server cannot read it",
                param=where,
            )
        else:
            raise InvalidRequest(
                f"an assistant turn cannot hold a {type(block).__name__} block",
                param=f"{where}.type",
                code="invalid_value",
            )
    return core.Message(
        role="assistant",
        content="".join(text) or None,
        tool_calls=tuple(calls),
        reasoning="".join(thinking) or None,
    )


def core_messages(
    request: wire.CountTokensRequest,
) -> tuple[tuple[core.Message, ...], Origins]:
    """The system prompt and the turns as core messages, and where each came from."""
    origins = Origins()
    messages: list[core.Message] = []
    if request.system:
        origins.add("system")
        messages.append(core.Message(role="system", content=_text(request.system)))
    for i, message in enumerate(request.messages):
        if message.role == "user":
            messages.extend(_user(message, i, origins))
        else:
            messages.append(_assistant(message, i, origins))
    return tuple(messages), origins


def _tool_choice(choice: wire.ToolChoice | None) -> tuple[core.ToolChoice, bool]:
    """Core's tool choice and whether the model may call several tools at once."""
    if choice is None:
        return core.ToolChoice(), True
    if isinstance(choice, wire.ToolChoiceNone):
        return core.ToolChoice(mode="none"), True
    parallel = not choice.disable_parallel_tool_use
    if isinstance(choice, wire.ToolChoiceAny):
        return core.ToolChoice(mode="required"), parallel
    if isinstance(choice, wire.ToolChoiceTool):
        return core.ToolChoice(mode="function", function=choice.name), parallel
    return core.ToolChoice(mode="auto"), parallel


def chat_request(
    request: wire.CountTokensRequest, max_tokens: int
) -> tuple[core.ChatRequest, Origins]:
    """Core's chat request for ``request`` (a messages request, or a count of one's
    tokens), and where its messages came from."""
    messages, origins = core_messages(request)
    forcing = request.tool_choice is not None and not isinstance(
        request.tool_choice, wire.ToolChoiceNone
    )
    if forcing and not request.tools:
        raise InvalidRequest("tool_choice needs tools", param="tool_choice")
    names = {t.name for t in request.tools or []}
    if (
        isinstance(request.tool_choice, wire.ToolChoiceTool)
        and request.tool_choice.name not in names
    ):
        raise InvalidRequest(
            f"tool_choice names {request.tool_choice.name!r}, which is not in tools",
            param="tool_choice.name",
        )
    choice, parallel = _tool_choice(request.tool_choice)
    budget = None
    effort: core.Effort | None = None
    output = request.output_config
    if output is not None and output.effort is not None:
        effort = output.effort
    if isinstance(request.thinking, wire.ThinkingEnabled):
        budget = request.thinking.budget_tokens
        if budget >= max_tokens and isinstance(request, wire.MessagesRequest):
            raise InvalidRequest(
                "thinking.budget_tokens must be less than max_tokens (the thinking counts "
                "towards max_tokens)",
                param="thinking.budget_tokens",
            )
    elif isinstance(request.thinking, wire.ThinkingDisabled):
        if effort is not None:
            raise InvalidRequest(
                "output_config.effort asks for thinking, which thinking disables",
                param="output_config.effort",
            )
        effort = "none"
    response_format = core.ResponseFormat()
    if output is not None and output.format is not None:
        response_format = core.ResponseFormat(
            type="json_schema", name="output", schema=output.format.schema, strict=True
        )
    sampling = core.Sampling(max_tokens=max_tokens)
    user = None
    if isinstance(request, wire.MessagesRequest):
        sampling = core.Sampling(
            max_tokens=max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            top_k=request.top_k,
            stop=tuple(request.stop_sequences or ()),
        )
        user = request.metadata.user_id if request.metadata else None
    tools = tuple(
        core.Tool(name=t.name, description=t.description or None, parameters=t.input_schema)
        for t in request.tools or []
    )
    chat = core.ChatRequest(
        model=request.model,
        messages=messages,
        sampling=sampling,
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=parallel,
        user=user,
        response_format=response_format,
        reasoning_effort=effort,
        reasoning_budget=budget,
    )
    return chat, origins
