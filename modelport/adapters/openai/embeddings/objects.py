"""Response objects as msgspec Structs, shaped to validate against OpenAI's spec
(required fields present, nullable fields sent as ``null``, optional ones omitted)."""

from __future__ import annotations

from typing import Literal

from ..common import (
    Out,
)

__all__ = ["Embedding", "EmbeddingList", "EmbeddingUsage"]


class Embedding(Out, kw_only=True):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingUsage(Out, kw_only=True):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(Out, kw_only=True):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage
