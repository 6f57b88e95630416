"""The request body of completions: POST /v1/completions, as msgspec Structs (names and ranges
from OpenAI's spec): unknown fields are tolerated, known ones typed and range-checked."""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import Meta

from ..sampling import (
    SamplingRequest,
)

__all__ = ["CompletionRequest"]


class CompletionRequest(SamplingRequest, kw_only=True):
    model: Annotated[str, Meta(min_length=1)]
    prompt: str | list[Any]
    max_tokens: Annotated[int, Meta(ge=0)] | None = None
    echo: bool | None = None
    suffix: str | None = None
    logprobs: Annotated[int, Meta(ge=0, le=5)] | None = None
    best_of: Annotated[int, Meta(ge=1, le=20)] | None = None
