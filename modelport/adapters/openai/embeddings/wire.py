"""The request body of embeddings: POST /v1/embeddings, as msgspec Structs (names and ranges
from OpenAI's spec): unknown fields are tolerated, known ones typed and range-checked."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta

from ..common import (
    Wire,
)

__all__ = ["EmbeddingRequest"]


class EmbeddingRequest(Wire, kw_only=True):
    model: Annotated[str, Meta(min_length=1)]
    input: str | list[Any]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Annotated[int, Meta(ge=1)] | None = None
    user: str | None = None
