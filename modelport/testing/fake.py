"""A deterministic, scriptable fake backend for adapter tests.

It never stands in for a real backend in a test that claims a real backend works. Its
reply is the ``reply`` option, or, for ``reply = "echo"``, the last user message; every
whitespace-separated word is one "token" (``tokenize`` numbers words as it meets them).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Annotated

import msgspec

from modelport.core import (
    BackendRegistry,
    BackendSpec,
    Capability,
    ChatEvent,
    ChatRequest,
    CompletionRequest,
    EmbedRequest,
    EmbedResult,
    Feature,
    Finish,
    FinishReason,
    LoadContext,
    Started,
    TextDelta,
    Usage,
    hookimpl,
)
from modelport.core.tokenization import (
    DetokenizeRequest,
    DetokenizeResult,
    Piece,
    TokenizeRequest,
    TokenizeResult,
)

__all__ = ["FakeModel", "FakeOptions", "FakePlugin"]


class FakeOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reply: str = "echo"
    delay: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    dimensions: Annotated[int, msgspec.Meta(gt=0)] = 8
    fail_load: bool = False
    # The features the backend declares for this model (before it loads) ...
    declare: frozenset[Feature] = frozenset({Feature.TOKEN_INPUT})
    # ... and, when set, the ones the loaded model says it honours (``model.features``).
    narrow: frozenset[Feature] | None = None


class FakeModel:
    def __init__(self, options: FakeOptions):
        self.options = options
        self.active = 0
        narrow = getattr(options, "narrow", None)  # subclasses may bring options of their own
        self.features = None if narrow is None else frozenset(narrow)
        self.vocab_size = 50_000  # token ids it takes
        self.words: dict[str, int] = {}

    @classmethod
    def load(cls, ctx: LoadContext) -> FakeModel:
        if ctx.options.fail_load:
            raise RuntimeError("fake backend told to fail")
        return cls(ctx.options)

    def _words(self, prompt: str) -> list[str]:
        text = prompt if self.options.reply == "echo" else self.options.reply
        words = text.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)]

    async def _generate(self, prompt: str, max_tokens: int | None) -> AsyncIterator[ChatEvent]:
        self.active += 1
        try:
            words = self._words(prompt)
            yield Started(prompt_tokens=len(prompt.split()))
            limit = len(words) if max_tokens is None else min(max_tokens, len(words))
            for word in words[:limit]:
                if self.options.delay:
                    await asyncio.sleep(self.options.delay)
                yield TextDelta(text=word)
            reason: FinishReason = "length" if limit < len(words) else "stop"
            yield Finish(
                reason=reason,
                usage=Usage(prompt_tokens=len(prompt.split()), completion_tokens=limit),
            )
        finally:
            self.active -= 1

    def chat(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        users = [m for m in request.messages if m.role == "user"]
        prompt = users[-1].text() if users else ""
        return self._generate(prompt, request.sampling.max_tokens)

    def complete(self, request: CompletionRequest) -> AsyncIterator[ChatEvent]:
        prompt = (
            request.prompt
            if isinstance(request.prompt, str)
            else " ".join(map(str, request.prompt))
        )
        return self._generate(prompt, request.sampling.max_tokens)

    async def embed(self, request: EmbedRequest) -> EmbedResult:
        vectors = []
        for item in request.inputs:
            digest = hashlib.sha256(repr(item).encode()).digest()
            vectors.append([b / 255.0 for b in digest[: self.options.dimensions]])
        return EmbedResult(vectors=vectors, prompt_tokens=len(request.inputs))

    async def tokenize(self, request: TokenizeRequest) -> TokenizeResult:
        if request.messages is not None:
            text = " ".join(f"{m.role}: {m.text()}" for m in request.messages)
        else:
            text = request.text or ""
        words = text.split()
        ids = tuple(self.words.setdefault(w, len(self.words) + 1) for w in words)
        pieces = None
        if request.with_pieces:
            pieces = tuple(Piece(id=i, piece=w) for i, w in zip(ids, words, strict=True))
        return TokenizeResult(tokens=ids, pieces=pieces)

    async def detokenize(self, request: DetokenizeRequest) -> DetokenizeResult:
        names = {i: w for w, i in self.words.items()}
        return DetokenizeResult(text=" ".join(names.get(t, "<unk>") for t in request.tokens))


class FakePlugin:
    """Register with ``load_plugins(extra=[("fake", FakePlugin())])``."""

    @hookimpl
    def register_backends(self, registry: BackendRegistry) -> None:
        registry.add(
            BackendSpec(
                name="fake",
                description="deterministic fake backend for adapter tests",
                options=FakeOptions,
                capabilities=frozenset(
                    {Capability.CHAT, Capability.COMPLETE, Capability.EMBED, Capability.TOKENIZE}
                ),
                features=frozenset({Feature.TOKEN_INPUT}),
                features_for=lambda options: frozenset(options.declare),
                load=FakeModel.load,
                needs_source=False,
            )
        )
