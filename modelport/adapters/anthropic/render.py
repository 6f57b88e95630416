"""Core's events as Anthropic's answers: a message with content blocks (``thinking``,
``text``, ``tool_use``), or its stream of events (``message_start``, ``ping``,
``content_block_start``/``_delta``/``_stop``, ``message_delta``, ``message_stop``), and
errors in Anthropic's envelope."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any, Literal

import msgspec

from modelport.core.types import (
    ChatEvent,
    Finish,
    ReasoningDelta,
    Started,
    TextDelta,
    ToolCallDelta,
    Usage,
)

__all__ = ["error", "message", "message_id", "stream_events"]

_encoder = msgspec.json.Encoder()

StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal"]

# Statuses and Anthropic's error types (529 is its "overloaded").
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


class AnthropicErrorBody(msgspec.Struct, kw_only=True):
    type: str
    message: str


class AnthropicError(msgspec.Struct, kw_only=True):
    """Anthropic's error envelope."""

    type: Literal["error"] = "error"
    error: AnthropicErrorBody


def error(status: int, message: str, param: str | None, code: str | None) -> bytes:
    """Anthropic's error envelope; the field at fault leads the message."""
    kind = ERROR_TYPES.get(status, "api_error" if status != 503 else "overloaded_error")
    text = f"{param}: {message}" if param else message
    return _encoder.encode(AnthropicError(error=AnthropicErrorBody(type=kind, message=text)))


def message_id() -> str:
    return "msg_" + secrets.token_hex(12)


class _Usage(msgspec.Struct, kw_only=True):
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0


def _usage(usage: Usage) -> _Usage:
    """Anthropic counts cached prompt tokens apart from the input tokens."""
    return _Usage(
        input_tokens=usage.prompt_tokens - usage.cached_tokens,
        output_tokens=usage.completion_tokens,
        cache_read_input_tokens=usage.cached_tokens,
    )


def _stop_reason(finish: Finish) -> StopReason:
    if finish.reason == "length":
        return "max_tokens"
    if finish.reason == "tool_calls":
        return "tool_use"
    if finish.reason == "content_filter":
        return "refusal"
    return "stop_sequence" if finish.stop_sequence is not None else "end_turn"


def _input(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def message(model: str, events: list[ChatEvent], *, omit_thinking: bool = False) -> bytes:
    """The whole message of a finished generation (``omit_thinking``: its thinking
    block without the text)."""
    thinking = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    calls: dict[int, dict[str, str]] = {}
    for event in events:
        if isinstance(event, ToolCallDelta):
            call = calls.setdefault(event.index, {"id": "", "name": "", "arguments": ""})
            call["id"] = event.id or call["id"]
            call["name"] = event.name or call["name"]
            call["arguments"] += event.arguments
    finish = next(e for e in events if isinstance(e, Finish))
    content: list[dict[str, Any]] = []
    if thinking:
        shown = "" if omit_thinking else thinking
        content.append({"type": "thinking", "thinking": shown, "signature": ""})
    if text or not (thinking or calls):
        content.append({"type": "text", "text": text})
    for call in calls.values():
        content.append(
            {
                "type": "tool_use",
                "id": call["id"],
                "name": call["name"],
                "input": _input(call["arguments"]),
            }
        )
    return _encoder.encode(
        {
            "id": message_id(),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": _stop_reason(finish),
            "stop_sequence": finish.stop_sequence,
            "usage": _usage(finish.usage),
        }
    )


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return (
        b"event: " + kind.encode() + b"\ndata: " + _encoder.encode({"type": kind, **data}) + b"\n\n"
    )


async def stream_events(
    model: str, started: Started, events: AsyncIterator[ChatEvent], *, omit_thinking: bool = False
) -> AsyncIterator[bytes]:
    """Anthropic's stream of a generation whose ``Started`` has been read: one content
    block at a time, opened when its first delta arrives (``omit_thinking``: thinking
    blocks without their deltas)."""
    yield _event(
        "message_start",
        {
            "message": {
                "id": message_id(),
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": started.prompt_tokens, "output_tokens": 0},
            }
        },
    )
    yield _event("ping", {})
    index = -1
    open_kind: str | None = None  # "thinking", "text", or "tool_use:<call index>"

    def close() -> bytes:
        return _event("content_block_stop", {"index": index})

    async for event in events:
        if isinstance(event, ReasoningDelta | TextDelta) and event.text:
            kind = "thinking" if isinstance(event, ReasoningDelta) else "text"
            if open_kind != kind:
                if open_kind is not None:
                    yield close()
                index, open_kind = index + 1, kind
                block: dict[str, object] = {"type": kind, kind: ""}
                if kind == "thinking":
                    block["signature"] = ""
                yield _event("content_block_start", {"index": index, "content_block": block})
            if kind == "thinking" and omit_thinking:
                continue
            delta = (
                {"type": "thinking_delta", "thinking": event.text}
                if kind == "thinking"
                else {"type": "text_delta", "text": event.text}
            )
            yield _event("content_block_delta", {"index": index, "delta": delta})
        elif isinstance(event, ToolCallDelta):
            kind = f"tool_use:{event.index}"
            if open_kind != kind:
                if open_kind is not None:
                    yield close()
                index, open_kind = index + 1, kind
                block = {
                    "type": "tool_use",
                    "id": event.id or "",
                    "name": event.name or "",
                    "input": {},
                }
                yield _event("content_block_start", {"index": index, "content_block": block})
            if event.arguments:
                delta = {"type": "input_json_delta", "partial_json": event.arguments}
                yield _event("content_block_delta", {"index": index, "delta": delta})
        elif isinstance(event, Finish):
            if open_kind is None:  # (an empty answer still has its text block)
                index = 0
                block = {"type": "text", "text": ""}
                yield _event("content_block_start", {"index": index, "content_block": block})
            yield close()
            usage = _usage(event.usage)
            yield _event(
                "message_delta",
                {
                    "delta": {
                        "stop_reason": _stop_reason(event),
                        "stop_sequence": event.stop_sequence,
                    },
                    "usage": {
                        "output_tokens": usage.output_tokens,
                        "input_tokens": usage.input_tokens,
                        "cache_read_input_tokens": usage.cache_read_input_tokens,
                    },
                },
            )
            yield _event("message_stop", {})
            return


def stream_error(status: int, message_text: str, param: str | None, code: str | None) -> bytes:
    """An error after the stream began: Anthropic's ``error`` event."""
    return b"event: error\ndata: " + error(status, message_text, param, code) + b"\n\n"
