"""Capabilities (what a model serves) and features (which request options it honours).

A capability is one small protocol with one required method, core types in and out.
A feature is an optional part of a request; a request that needs a feature the model
does not declare is refused with a 400 naming the parameter (see ``contract``).
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from .features import Feature
from .images import ImageRequest, ImageResult
from .rerank import RerankRequest, RerankResult
from .tokenization import DetokenizeRequest, DetokenizeResult, TokenizeRequest, TokenizeResult
from .types import (
    ChatEvent,
    ChatRequest,
    CompletionEvent,
    CompletionRequest,
    EmbedRequest,
    EmbedResult,
)

__all__ = [
    "METHODS_OF",
    "Capability",
    "Chat",
    "Complete",
    "Embed",
    "Feature",
    "Image",
    "Rerank",
    "Tokenize",
]


class Capability(enum.StrEnum):
    CHAT = "chat"
    COMPLETE = "complete"
    EMBED = "embed"
    IMAGE = "image"
    RERANK = "rerank"
    TOKENIZE = "tokenize"


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


@runtime_checkable
class Rerank(Protocol):
    async def rerank(self, request: RerankRequest) -> RerankResult:
        """One relevance score per document, in the documents' order."""
        ...


@runtime_checkable
class Tokenize(Protocol):
    async def tokenize(self, request: TokenizeRequest) -> TokenizeResult:
        """The model's token ids for a text (as its completions tokenize a prompt) or for
        chat messages (as its chat completions render and tokenize them)."""
        ...

    async def detokenize(self, request: DetokenizeRequest) -> DetokenizeResult:
        """The text of the model's token ids (core has checked them against its
        vocabulary)."""
        ...


# The methods a model object has for each capability it serves.
METHODS_OF: dict[Capability, tuple[str, ...]] = {
    Capability.CHAT: ("chat",),
    Capability.COMPLETE: ("complete",),
    Capability.EMBED: ("embed",),
    Capability.IMAGE: ("generate_image",),
    Capability.RERANK: ("rerank",),
    Capability.TOKENIZE: ("tokenize", "detokenize"),
}
