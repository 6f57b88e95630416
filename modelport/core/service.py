"""The service adapters call: name resolution, the contract, defaults, slots, fallbacks.

Handlers in any adapter stay thin: they map wire types to core requests and hand them
here. Generation methods are async generators, so every early failure (unknown model,
unsupported feature, full queue, context overflow) surfaces on the first event, before
an adapter commits to a status code.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

import msgspec

from .capabilities import Capability, Chat, Complete, Embed, Feature
from .contract import check_chat, check_completion, check_embed
from .embeddings import truncate_dimensions
from .errors import BackendError
from .generation import checked, cut_at_stop
from .manager import ModelEntry, ModelManager
from .types import (
    ChatEvent,
    ChatRequest,
    CompletionEvent,
    CompletionRequest,
    EmbedRequest,
    EmbedResult,
)

__all__ = ["ModelService"]


class ModelService:
    def __init__(self, manager: ModelManager):
        self.manager = manager

    def entry(self, name: str) -> ModelEntry:
        return self.manager.resolve(name)

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        entry = self.manager.require(request.model, Capability.CHAT)
        check_chat(request, entry.features)
        request = msgspec.structs.replace(
            request, sampling=request.sampling.with_defaults(entry.defaults)
        )
        async with self.manager.use(entry) as model:
            events = self._guard(cast(Chat, model).chat(request), entry, request.sampling.stop)
            async with contextlib.aclosing(events):
                async for event in events:
                    yield event

    async def complete(self, request: CompletionRequest) -> AsyncIterator[CompletionEvent]:
        entry = self.manager.require(request.model, Capability.COMPLETE)
        check_completion(request, entry.features)
        request = msgspec.structs.replace(
            request, sampling=request.sampling.with_defaults(entry.defaults)
        )
        async with self.manager.use(entry) as model:
            events = self._guard(
                cast(Complete, model).complete(request), entry, request.sampling.stop
            )
            async with contextlib.aclosing(events):
                async for event in events:
                    yield event

    def _guard(
        self, events: AsyncIterator[Any], entry: ModelEntry, stop: tuple[str, ...]
    ) -> AsyncGenerator[Any, None]:
        guarded: AsyncGenerator[Any, None] = checked(events, entry.spec.name)
        if stop and Feature.STOP not in entry.features:
            guarded = cut_at_stop(guarded, stop)
        return guarded

    async def embed(self, request: EmbedRequest) -> EmbedResult:
        entry = self.manager.require(request.model, Capability.EMBED)
        check_embed(request, entry.features)
        async with self.manager.use(entry) as model:
            result = await cast(Embed, model).embed(request)
        if len(result.vectors) != len(request.inputs):
            raise BackendError(
                f"backend {entry.spec.name!r} returned {len(result.vectors)} vectors "
                f"for {len(request.inputs)} inputs"
            )
        if Feature.DIMENSIONS not in entry.features:
            vectors = truncate_dimensions(result.vectors, request.dimensions)
            result = EmbedResult(vectors=vectors, prompt_tokens=result.prompt_tokens)
        return result
