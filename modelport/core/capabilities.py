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
from .types import (
    ChatEvent,
    ChatRequest,
    CompletionEvent,
    CompletionRequest,
    EmbedRequest,
    EmbedResult,
)

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
