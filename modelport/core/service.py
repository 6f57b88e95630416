"""The service adapters call: name resolution, the contract, defaults, slots, fallbacks.

Handlers in any adapter stay thin: they map wire types to core requests and hand them
here. Generation methods are async generators, so every early failure (unknown model,
unsupported feature, full queue, context overflow) surfaces on the first event, before
an adapter commits to a status code.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Sequence
from functools import partial
from typing import Any, TypeVar, cast

import msgspec

from . import outputs
from .batching import EmbedBatcher
from .capabilities import Capability, Chat, Complete, Embed, Feature, Image, Rerank, Tokenize
from .contract import check_chat, check_completion, check_embed, check_tokenize
from .embeddings import truncate_dimensions
from .errors import BackendError, InvalidRequest, ModelportError, Unsupported
from .generation import checked, cut_at_stop, merge_streams
from .image_budget import ImageBudget
from .image_fetch import FetchedImage, fetch_images
from .images import (
    ImageRequest,
    ImageResult,
    image_contract,
    merge_results,
    prepare_image_request,
    split_per_image,
)
from .manager import ModelEntry, ModelManager
from .observers import Observer
from .reasoning import split_reasoning, with_thinking
from .rerank import RerankRequest, RerankResult, rerank_by_embeddings
from .tokenization import DetokenizeRequest, DetokenizeResult, TokenizeRequest, TokenizeResult
from .tokens import check_token_ids
from .types import (
    ChatEvent,
    ChatRequest,
    CompletionEvent,
    CompletionRequest,
    EmbedRequest,
    EmbedResult,
    Finish,
    ImageData,
    ImagePart,
    Started,
    TextDelta,
    TextPart,
)

__all__ = ["ModelService"]

E = TypeVar("E")  # an event of a generation stream
T = TypeVar("T")


class ModelService:
    def __init__(self, manager: ModelManager, observers: Iterable[Observer] = ()):
        self.manager = manager
        self.observers = tuple(observers)
        self.image_budget = ImageBudget(manager.config.image_fetch.max_inflight_bytes)

    def entry(self, name: str) -> ModelEntry:
        return self.manager.resolve(name)

    async def choices(
        self, requests: Sequence[ChatRequest | CompletionRequest]
    ) -> AsyncIterator[tuple[int, ChatEvent]]:
        """Every choice of every request, as (choice index, event); requests in order,
        the choices of one request interleaved when they run at once.

        ``n > 1`` fans out in core into ``n`` single generations (seeds ``seed + i``, so a
        seeded request stays reproducible), run at once up to the model's ``parallel``
        slots, so their events interleave; a backend that shares the prompt's evaluation
        between concurrent sequences (the gguf backend copies its KV) evaluates it once.
        """
        index = 0
        for request in requests:
            if isinstance(request, CompletionRequest) and (request.best_of or 1) > 1:
                for rank, ranked in await self._best_of(request):
                    yield index + rank, ranked
                index += request.sampling.n
                continue
            async with contextlib.AsyncExitStack() as images:
                if isinstance(request, ChatRequest) and request.sampling.n > 1:
                    entry, _ = await self._ready(
                        request.model, Capability.CHAT, partial(check_chat, request)
                    )
                    async with self.manager.admit(entry):  # the fetch counts as queued
                        # once for all choices, held until the last one ends
                        request = await images.enter_async_context(self._images(request))
                singles = _fan_out(request)
                streams = [
                    self.chat(single) if isinstance(single, ChatRequest) else self.complete(single)
                    for single in singles
                ]
                width = min(len(streams), self._parallel(request.model))
                merged = merge_streams(streams, width=width)
                async with contextlib.aclosing(merged):
                    async for i, event in merged:
                        yield index + i, event
                index += len(singles)

    async def _ready(
        self, name: str, capability: Capability, check: Callable[[frozenset[Feature]], T]
    ) -> tuple[ModelEntry, T]:
        """The model's entry, and ``check`` of its features: first of what its options
        declare, so a bad request is refused without loading the model; then, once the
        model is loaded, of what it honours (it may narrow them), so even a lazy model's
        first request is checked against the model that serves it."""
        entry = self.manager.require(name, capability)
        checked = check(entry.features)
        if entry.model is None:
            await self.manager.load(entry)
            checked = check(entry.features)
        return entry, checked

    def _parallel(self, name: str) -> int:
        """How many generations the model runs at once (1 for a name that does not
        resolve: the generation itself then raises the proper error)."""
        try:
            return self.manager.resolve(name).config.parallel
        except ModelportError:
            return 1

    async def _best_of(self, request: CompletionRequest) -> list[tuple[int, ChatEvent]]:
        """``best_of`` candidates generated (with log-probabilities), the ``n`` with the
        highest cumulative log-probability returned, best first."""
        n, scored = request.sampling.n, []
        wide = msgspec.structs.replace(
            request,
            best_of=None,
            sampling=msgspec.structs.replace(
                request.sampling, n=request.best_of or 1, logprobs=True
            ),
        )
        candidates: dict[int, list[ChatEvent]] = {}
        async for i, event in self.choices([wide]):
            candidates.setdefault(i, []).append(event)
        for events in candidates.values():
            total = sum(lp.logprob for e in events if isinstance(e, TextDelta) for lp in e.logprobs)
            scored.append((total, events))
        scored.sort(key=lambda item: item[0], reverse=True)
        keep = request.sampling.logprobs
        # Every candidate's tokens were generated: the usage counts the discarded ones too.
        discarded = sum(
            e.usage.completion_tokens
            for _, events in scored[n:]
            for e in events
            if isinstance(e, Finish)
        )
        out: list[tuple[int, ChatEvent]] = []
        for rank, (_, events) in enumerate(scored[:n]):
            for e in events:
                if isinstance(e, TextDelta) and not keep:
                    e = msgspec.structs.replace(e, logprobs=())
                elif isinstance(e, Finish) and rank == 0:
                    e = msgspec.structs.replace(
                        e,
                        usage=msgspec.structs.replace(
                            e.usage, completion_tokens=e.usage.completion_tokens + discarded
                        ),
                    )
                out.append((rank, e))
        return out

    async def chat(self, request: ChatRequest) -> AsyncGenerator[ChatEvent, None]:
        events = self._observed(self._chat(request), request.model)
        async with contextlib.aclosing(events):
            async for event in events:
                yield event

    async def _chat(self, request: ChatRequest) -> AsyncGenerator[ChatEvent, None]:
        entry, _ = await self._ready(request.model, Capability.CHAT, partial(check_chat, request))
        request = msgspec.structs.replace(
            request, sampling=request.sampling.with_defaults(entry.defaults)
        )
        request, mode = outputs.prepare(request, entry.features)
        request = with_thinking(request, entry.reasoning, entry.features)
        thinks_freely = entry.reasoning is not None and Feature.REASONING not in entry.features
        if request.constraint is not None and thinks_freely:
            _refuse_constrained_thinking(request, mode)
        # Images are fetched in the model's queue (they count against its bound) but
        # before a slot (a slow image server holds no model), and their bytes stay held
        # from the image budget until the generation ends.
        async with (
            self.manager.admit(entry) as admission,
            self._images(request) as request,
            admission.seat() as model,
        ):
            events = self._guard(cast(Chat, model).chat(request), entry, request.sampling.stop)
            if entry.reasoning is not None:  # thinking apart, before any parsing
                events = split_reasoning(events, entry.reasoning)
            shaped = outputs.shape(events, request, mode)
            async with contextlib.aclosing(events), contextlib.aclosing(shaped):
                async for event in shaped:
                    yield event

    @contextlib.asynccontextmanager
    async def _images(self, request: ChatRequest) -> AsyncIterator[ChatRequest]:
        """The request with every ``image_url`` part fetched or decoded into ``ImageData``,
        their bytes held from the server's image budget while the block runs."""
        wanted = [
            (part.url, f"messages[{i}].content[{j}]")
            for i, msg in enumerate(request.messages)
            if isinstance(msg.content, tuple)
            for j, part in enumerate(msg.content)
            if isinstance(part, ImagePart)
        ]
        if not wanted:
            yield request
            return
        with self.image_budget.hold() as hold:
            fetched = await fetch_images(wanted, self.manager.config.image_fetch, hold)
            yield _with_images(request, fetched)

    async def complete(self, request: CompletionRequest) -> AsyncGenerator[CompletionEvent, None]:
        events = self._observed(self._complete(request), request.model)
        async with contextlib.aclosing(events):
            async for event in events:
                yield event

    async def _complete(self, request: CompletionRequest) -> AsyncGenerator[CompletionEvent, None]:
        entry, _ = await self._ready(
            request.model, Capability.COMPLETE, partial(check_completion, request)
        )
        if not isinstance(request.prompt, str) and entry.vocab_size is not None:
            check_token_ids(request.prompt, entry.vocab_size, request.prompt_param)
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

    async def _observed(
        self, events: AsyncGenerator[E, None], name: str
    ) -> AsyncGenerator[E, None]:
        """``events`` of one generation, reported to the observers: the time to its first
        output and its usage."""
        started, first = time.monotonic(), True
        async with contextlib.aclosing(events):
            async for event in events:
                if first and not isinstance(event, Started):
                    first = False
                    seconds = time.monotonic() - started
                    for observer in self.observers:
                        observer.first_output(self.manager.resolve(name).name, seconds)
                if isinstance(event, Finish):
                    for observer in self.observers:
                        observer.generated(self.manager.resolve(name).name, event.usage)
                yield event

    def _guard(
        self, events: AsyncIterator[Any], entry: ModelEntry, stop: tuple[str, ...]
    ) -> AsyncGenerator[Any, None]:
        guarded: AsyncGenerator[Any, None] = checked(events, entry.spec.name)
        if stop and Feature.STOP not in entry.features:
            guarded = cut_at_stop(guarded, stop)
        return guarded

    async def embed(self, request: EmbedRequest) -> EmbedResult:
        """Embeddings, through the model's batcher: concurrent requests share one call."""
        entry, _ = await self._ready(request.model, Capability.EMBED, partial(check_embed, request))
        inputs: Sequence[str | tuple[int, ...]] = request.inputs
        for i, item in enumerate(inputs):
            if not isinstance(item, str) and entry.vocab_size is not None:
                check_token_ids(item, entry.vocab_size, f"input[{i}]")
        if entry.config.batching.enabled:
            result = await self._embed_batcher(entry).embed(request)
        else:
            result = await self._embed_now(entry, request)
        if len(result.vectors) != len(request.inputs):
            raise BackendError(
                f"backend {entry.spec.name!r} returned {len(result.vectors)} vectors "
                f"for {len(request.inputs)} inputs"
            )
        if Feature.DIMENSIONS not in entry.features:
            vectors = truncate_dimensions(result.vectors, request.dimensions)
            result = EmbedResult(vectors=vectors, prompt_tokens=result.prompt_tokens)
        for observer in self.observers:
            observer.embedded(entry.name, result.prompt_tokens)
        return result

    async def _embed_now(self, entry: ModelEntry, request: EmbedRequest) -> EmbedResult:
        async with self.manager.use(entry) as model:
            return await cast(Embed, model).embed(request)

    def _embed_batcher(self, entry: ModelEntry) -> EmbedBatcher:
        if entry.embed_batcher is None:
            batching = entry.config.batching
            entry.embed_batcher = EmbedBatcher(
                lambda request: self._embed_now(entry, request),
                max_inputs=batching.max_inputs,
                window=batching.window_seconds(),
                max_pending=max(entry.config.max_queue, entry.config.parallel),
                workers=entry.config.parallel,
                native_dimensions=Feature.DIMENSIONS in entry.features,
                model=entry.name,
            )
        return entry.embed_batcher

    async def rerank(self, request: RerankRequest) -> RerankResult:
        """Relevance scores, one per document: from a reranker, or from an embedding
        model's vectors (``rerank = "embeddings"``)."""
        entry, _ = await self._ready(request.model, Capability.RERANK, lambda _: None)
        if not request.documents:
            raise InvalidRequest("documents must not be empty", param="documents")
        if Capability.RERANK in entry.served_by_core:
            result = await rerank_by_embeddings(request, self.embed)
        else:
            async with self.manager.use(entry) as model:
                result = await cast(Rerank, model).rerank(request)
            for observer in self.observers:
                observer.embedded(entry.name, result.prompt_tokens)
        if len(result.scores) != len(request.documents):
            raise BackendError(
                f"backend {entry.spec.name!r} returned {len(result.scores)} scores "
                f"for {len(request.documents)} documents"
            )
        return result

    async def tokenize(self, request: TokenizeRequest) -> TokenizeResult:
        """The model's tokens for a text or chat messages (no slot: it runs beside the
        model's requests)."""
        entry, _ = await self._ready(
            request.model, Capability.TOKENIZE, partial(check_tokenize, request)
        )
        for i, message in enumerate(request.messages or ()):
            if isinstance(message.content, tuple) and any(
                not isinstance(part, TextPart) for part in message.content
            ):
                raise Unsupported(
                    "only text is tokenized here; images count as the model's vision "
                    "encoder makes them (see usage.prompt_tokens of a chat completion)",
                    param=f"messages[{i}].content",
                )
        async with self.manager.borrow(entry) as model:
            return await cast(Tokenize, model).tokenize(request)

    async def detokenize(self, request: DetokenizeRequest) -> DetokenizeResult:
        """The text of the model's token ids (each checked against its vocabulary)."""
        entry, _ = await self._ready(request.model, Capability.TOKENIZE, lambda _: None)
        if entry.vocab_size is not None:
            check_token_ids(request.tokens, entry.vocab_size, "tokens")
        async with self.manager.borrow(entry) as model:
            return await cast(Tokenize, model).detokenize(request)

    async def generate_image(self, request: ImageRequest) -> ImageResult:
        """Images for ``request``, checked against the model's contract before it queues.

        A backend that cannot batch (no ``Feature.N``) gets one ``n=1`` request per image,
        all within one slot; seeds follow the same ``seed + i`` rule either way.
        """
        started = time.monotonic()
        contract = image_contract(self.manager.require(request.model, Capability.IMAGE).options)
        entry, request = await self._ready(
            request.model,
            Capability.IMAGE,
            lambda features: prepare_image_request(request, features, contract),
        )
        async with self.manager.use(entry) as model:
            if request.n == 1 or Feature.N in entry.features:
                parts = [request]
            else:
                parts = split_per_image(request)
            results = [await self._one_image_call(cast(Image, model), entry, p) for p in parts]
        result = merge_results(results) if len(results) > 1 else results[0]
        for observer in self.observers:
            observer.imaged(entry.name, len(result.images), time.monotonic() - started)
        return result

    async def _one_image_call(
        self, model: Image, entry: ModelEntry, request: ImageRequest
    ) -> ImageResult:
        result = await model.generate_image(request)
        if len(result.images) != request.n:
            raise BackendError(
                f"backend {entry.spec.name!r} returned {len(result.images)} images "
                f"for n={request.n}"
            )
        return result


def _refuse_constrained_thinking(request: ChatRequest, mode: outputs.Mode) -> None:
    """A grammar binds every generated token, the thinking included: a reasoning model
    whose backend cannot start it after the end marker refuses what needs one, by name."""
    param = "tool_choice" if mode is outputs.Mode.TOOLS_FORCED else "response_format"
    raise Unsupported(
        f"model {request.model!r} reasons before it answers, and its backend cannot "
        f"start the grammar of constrained output ({param}) after the thinking: drop "
        "it, or use tool_choice 'auto'",
        param=param,
    )


def _with_images(request: ChatRequest, images: list[FetchedImage]) -> ChatRequest:
    """``request`` with its ``image_url`` parts replaced, in order, by ``images``."""
    fetched = iter(images)
    messages = tuple(
        msgspec.structs.replace(
            msg,
            content=tuple(
                _image_data(part, next(fetched)) if isinstance(part, ImagePart) else part
                for part in msg.content
            ),
        )
        if isinstance(msg.content, tuple)
        else msg
        for msg in request.messages
    )
    return msgspec.structs.replace(request, messages=messages)


def _image_data(part: ImagePart, image: FetchedImage) -> ImageData:
    return ImageData(data=image.data, media_type=image.media_type, detail=part.detail)


def _fan_out(request: ChatRequest | CompletionRequest) -> list[Any]:
    sampling = request.sampling
    if sampling.n == 1:
        return [request]
    return [
        msgspec.structs.replace(
            request,
            sampling=msgspec.structs.replace(
                sampling, n=1, seed=None if sampling.seed is None else sampling.seed + i
            ),
        )
        for i in range(sampling.n)
    ]
