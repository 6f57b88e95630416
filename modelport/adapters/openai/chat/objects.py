"""Response objects as msgspec Structs, shaped to validate against OpenAI's spec
(required fields present, nullable fields sent as ``null``, optional ones omitted)."""

from __future__ import annotations

from typing import Any, Literal

from msgspec import UNSET, UnsetType

from ..common import (
    Out,
    UsageOut,
)

__all__ = [
    "ChatChoice",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatMessage",
    "ChunkChoice",
    "Delta",
    "ToolCallDelta",
    "ToolCallOut",
]


class ToolCallFunction(Out, kw_only=True):
    name: str
    arguments: str


class ToolCallOut(Out, kw_only=True):
    id: str
    type: Literal["function"] = "function"
    function: ToolCallFunction


class ChatMessage(Out, kw_only=True):
    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: None = None
    tool_calls: list[ToolCallOut] | UnsetType = UNSET
    # A reasoning model's thinking, under both names clients read: llama-server's, vLLM's
    # and LocalAI's ``reasoning_content``, Ollama's and newer vLLM's ``reasoning``.
    reasoning_content: str | UnsetType = UNSET
    reasoning: str | UnsetType = UNSET


class ChatChoice(Out, kw_only=True):
    index: int
    message: ChatMessage
    logprobs: dict[str, Any] | None = None
    finish_reason: str


class ChatCompletion(Out, kw_only=True):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    system_fingerprint: str
    choices: list[ChatChoice]
    usage: UsageOut
    # The request's metadata (shown, and filtered on, when the completion is stored).
    metadata: dict[str, str] | UnsetType = UNSET


class ToolCallDeltaFunction(Out, kw_only=True):
    name: str | UnsetType = UNSET
    arguments: str | UnsetType = UNSET


class ToolCallDelta(Out, kw_only=True):
    index: int
    id: str | UnsetType = UNSET
    type: Literal["function"] | UnsetType = UNSET
    function: ToolCallDeltaFunction | UnsetType = UNSET


class Delta(Out, kw_only=True):
    role: Literal["assistant"] | UnsetType = UNSET
    content: str | UnsetType | None = UNSET
    refusal: UnsetType | None = UNSET
    tool_calls: list[ToolCallDelta] | UnsetType = UNSET
    reasoning_content: str | UnsetType = UNSET  # (as in ChatMessage)
    reasoning: str | UnsetType = UNSET


class ChunkChoice(Out, kw_only=True):
    index: int
    delta: Delta
    logprobs: dict[str, Any] | None = None
    finish_reason: str | None = None


class ChatCompletionChunk(Out, kw_only=True):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    system_fingerprint: str
    choices: list[ChunkChoice]
    usage: UsageOut | UnsetType | None = UNSET
