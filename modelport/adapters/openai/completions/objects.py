"""Response objects as msgspec Structs, shaped to validate against OpenAI's spec
(required fields present, nullable fields sent as ``null``, optional ones omitted)."""

from __future__ import annotations

from typing import Any, Literal

from msgspec import UNSET, UnsetType

from ..common import (
    Out,
    UsageOut,
)

__all__ = ["Completion", "CompletionChoice"]


class CompletionChoice(Out, kw_only=True):
    text: str
    index: int
    logprobs: dict[str, Any] | None = None
    finish_reason: str | None


class Completion(Out, kw_only=True):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    system_fingerprint: str
    choices: list[CompletionChoice]
    usage: UsageOut | UnsetType | None = UNSET
