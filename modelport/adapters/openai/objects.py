"""OpenAI response objects as msgspec Structs, shaped to validate against OpenAI's spec
(required fields present, nullable fields sent as ``null``, optional ones omitted)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "ChatChoice",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatMessage",
    "ChunkChoice",
    "Completion",
    "CompletionChoice",
    "Delta",
    "Embedding",
    "EmbeddingList",
    "EmbeddingUsage",
    "ErrorBody",
    "ErrorEnvelope",
    "ModelList",
    "ModelObject",
    "PromptTokensDetails",
    "UsageOut",
]


class _Out(msgspec.Struct, kw_only=True):
    """Base of response objects; ``UNSET`` fields are left out of the JSON."""


class PromptTokensDetails(_Out, kw_only=True):
    cached_tokens: int


class UsageOut(_Out, kw_only=True):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails


class ToolCallFunction(_Out, kw_only=True):
    name: str
    arguments: str


class ToolCallOut(_Out, kw_only=True):
    id: str
    type: Literal["function"] = "function"
    function: ToolCallFunction


class ChatMessage(_Out, kw_only=True):
    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: None = None
    tool_calls: list[ToolCallOut] | UnsetType = UNSET


class ChatChoice(_Out, kw_only=True):
    index: int
    message: ChatMessage
    logprobs: dict[str, Any] | None = None
    finish_reason: str


class ChatCompletion(_Out, kw_only=True):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    system_fingerprint: str
    choices: list[ChatChoice]
    usage: UsageOut


class ToolCallDeltaFunction(_Out, kw_only=True):
    name: str | UnsetType = UNSET
    arguments: str | UnsetType = UNSET


class ToolCallDelta(_Out, kw_only=True):
    index: int
    id: str | UnsetType = UNSET
    type: Literal["function"] | UnsetType = UNSET
    function: ToolCallDeltaFunction | UnsetType = UNSET


class Delta(_Out, kw_only=True):
    role: Literal["assistant"] | UnsetType = UNSET
    content: str | UnsetType | None = UNSET
    refusal: UnsetType | None = UNSET
    tool_calls: list[ToolCallDelta] | UnsetType = UNSET


class ChunkChoice(_Out, kw_only=True):
    index: int
    delta: Delta
    logprobs: dict[str, Any] | None = None
    finish_reason: str | None = None


class ChatCompletionChunk(_Out, kw_only=True):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    system_fingerprint: str
    choices: list[ChunkChoice]
    usage: UsageOut | UnsetType | None = UNSET


class CompletionChoice(_Out, kw_only=True):
    text: str
    index: int
    logprobs: dict[str, Any] | None = None
    finish_reason: str | None


class Completion(_Out, kw_only=True):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    system_fingerprint: str
    choices: list[CompletionChoice]
    usage: UsageOut | UnsetType | None = UNSET


class Embedding(_Out, kw_only=True):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingUsage(_Out, kw_only=True):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(_Out, kw_only=True):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


class ModelObject(_Out, kw_only=True):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    # Extensions: what this model serves and which request features it honours.
    backend: str | UnsetType = UNSET
    aliases: list[str] | UnsetType = UNSET
    capabilities: dict[str, Any] | UnsetType = UNSET


class ModelList(_Out, kw_only=True):
    object: Literal["list"] = "list"
    data: list[ModelObject]


class ErrorBody(_Out, kw_only=True):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorEnvelope(_Out, kw_only=True):
    error: ErrorBody
