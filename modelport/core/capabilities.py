"""Capabilities (what a model serves) and features (which request options it honours).

A capability is one small protocol with one required method, core types in and out.
A feature is an optional part of a request; a request that needs a feature the model
does not declare is refused with a 400 naming the parameter (see ``contract``).
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .types import (
    ChatEvent,
    ChatRequest,
    CompletionEvent,
    CompletionRequest,
    EmbedRequest,
    EmbedResult,
)

if TYPE_CHECKING:  # images.py imports Feature from this module
    from .images import ImageRequest, ImageResult

__all__ = [
    "Capability",
    "Chat",
    "Complete",
    "Embed",
    "Feature",
    "Image",
]


class Capability(enum.StrEnum):
    CHAT = "chat"
    COMPLETE = "complete"
    EMBED = "embed"
    IMAGE = "image"


class Feature(enum.StrEnum):
    """Request features a backend may honour natively.

    Core provides fallbacks for ``STOP`` (stop sequences cut in core), ``N`` (fan-out into
    single generations) and ``DIMENSIONS`` (truncate and renormalise), so those need no
    declaration to work; completions ``best_of`` is ranked in core and needs ``LOGPROBS``.
    """

    STOP = "stop"
    SEED = "seed"
    PENALTIES = "penalties"
    TOP_K = "top_k"
    MIN_P = "min_p"
    LOGPROBS = "logprobs"
    LOGIT_BIAS = "logit_bias"
    N = "n"
    TOOLS = "tools"
    JSON_OBJECT = "json_object"
    JSON_SCHEMA = "json_schema"
    VISION = "vision"
    ECHO = "echo"
    SUFFIX = "suffix"
    TOKEN_INPUT = "token_input"
    DIMENSIONS = "dimensions"


@runtime_checkable
class Chat(Protocol):
    def chat(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        """Yield ``Started``, then text deltas, then exactly one ``Finish``."""
        ...


@runtime_checkable
class Complete(Protocol):
    def complete(self, request: CompletionRequest) -> AsyncIterator[CompletionEvent]:
        """Yield ``Started``, then text deltas, then exactly one ``Finish``."""
        ...


@runtime_checkable
class Embed(Protocol):
    async def embed(self, request: EmbedRequest) -> EmbedResult:
        """One vector per input, in input order."""
        ...


@runtime_checkable
class Image(Protocol):
    async def generate_image(self, request: ImageRequest) -> ImageResult:
        """``request.n`` PNG images of ``request.size``; image ``i`` from seed ``seed + i``.

        Core has already checked the request against the model's contract and filled in
        the size and seed. A backend without ``Feature.N`` gets ``n == 1`` only.
        """
        ...


METHOD_OF: dict[Capability, str] = {
    Capability.CHAT: "chat",
    Capability.COMPLETE: "complete",
    Capability.EMBED: "embed",
    Capability.IMAGE: "generate_image",
}
