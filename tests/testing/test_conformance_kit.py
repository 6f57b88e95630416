"""The conformance kit fails the backends that break the contract: each broken backend
here breaks one rule, and the kit's check for that rule must fail on it."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
import pytest

from modelport.core import (
    BackendSpec,
    Capability,
    ChatRequest,
    EmbedRequest,
    EmbedResult,
    Feature,
    Finish,
    Started,
    TextDelta,
    Usage,
)
from modelport.core.worker import Emit, stream_from_thread
from modelport.testing.conformance import (
    ChatConformance,
    EmbedConformance,
    LoadedModel,
    load_model,
)
from modelport.testing.fake import FakeModel, FakeOptions


class Words(FakeModel):
    """The fake backend (which passes the kit), with one rule broken per subclass."""

    def words(self, request: ChatRequest) -> list[str]:
        return self._words(request.messages[-1].text())


def _loaded(
    model_class: type[FakeModel],
    *,
    features: frozenset[Feature] = frozenset(),
    options: type[msgspec.Struct] = FakeOptions,
) -> LoadedModel:
    spec = BackendSpec(
        name="broken",
        capabilities=frozenset({Capability.CHAT, Capability.EMBED}),
        features=features,
        options=options,
        load=lambda ctx: model_class(ctx.options),
        needs_source=False,
    )
    return load_model(spec)


def _fails(check: Callable[[LoadedModel], None], loaded: LoadedModel, match: str) -> None:
    with pytest.raises(AssertionError, match=match):
        check(loaded)


CHAT = ChatConformance()
EMBED = EmbedConformance()


def test_the_unbroken_fake_passes_the_checks_below() -> None:
    loaded = _loaded(Words)
    CHAT.test_stream_is_started_deltas_and_one_finish_with_usage(loaded)
    CHAT.test_max_tokens_is_honoured_with_reason_length(loaded)
    CHAT.test_hostile_input_raises_only_core_errors(loaded)
    CHAT.test_closing_the_stream_mid_generation_stops_the_worker(loaded)
    CHAT.test_unknown_option_is_a_config_error_naming_the_key(loaded)
    EMBED.test_vectors_come_in_input_order(loaded)
    EMBED.test_one_fixed_size_finite_vector_per_input(loaded)


class NoFinish(Words):
    async def chat(self, request: ChatRequest) -> AsyncIterator[Any]:
        yield Started(prompt_tokens=1)
        yield TextDelta(text="hi")


class TwoFinishes(Words):
    async def chat(self, request: ChatRequest) -> AsyncIterator[Any]:
        async for event in self._generate("a b c", request.sampling.max_tokens):
            yield event
        yield Finish(reason="stop", usage=Usage(prompt_tokens=3, completion_tokens=0))


class UncountedDeltas(Words):
    async def chat(self, request: ChatRequest) -> AsyncIterator[Any]:
        async for event in super().chat(request):
            yield (
                msgspec.structs.replace(event, tokens=2) if isinstance(event, TextDelta) else event
            )


def test_a_stream_without_finish_fails() -> None:
    _fails(
        CHAT.test_stream_is_started_deltas_and_one_finish_with_usage,
        _loaded(NoFinish),
        "last event is not Finish",
    )


def test_a_stream_with_two_finishes_fails() -> None:
    _fails(
        CHAT.test_stream_is_started_deltas_and_one_finish_with_usage,
        _loaded(TwoFinishes),
        "2 Finish events",
    )


def test_deltas_that_do_not_add_up_to_usage_fail() -> None:
    _fails(
        CHAT.test_stream_is_started_deltas_and_one_finish_with_usage,
        _loaded(UncountedDeltas),
        "must add up",
    )


class IgnoresMaxTokens(Words):
    def chat(self, request: ChatRequest) -> AsyncIterator[Any]:
        return self._generate(request.messages[-1].text(), None)


def test_ignoring_max_tokens_fails() -> None:
    _fails(
        CHAT.test_max_tokens_is_honoured_with_reason_length,
        _loaded(IgnoresMaxTokens),
        "expected 'length'",
    )


class RaisesOnEmoji(Words):
    def chat(self, request: ChatRequest) -> AsyncIterator[Any]:
        if "😀" in request.messages[-1].text():
            raise ValueError("cannot tokenize")
        return super().chat(request)


def test_a_raw_exception_escaping_fails() -> None:
    _fails(
        CHAT.test_hostile_input_raises_only_core_errors,
        _loaded(RaisesOnEmoji),
        "builtins.ValueError escaped the backend",
    )


class IgnoresCancellation(Words):
    """Generates on a worker thread that never looks at the stop flag."""

    def chat(self, request: ChatRequest) -> AsyncIterator[Any]:
        limit = request.sampling.max_tokens or 400

        def work(emit: Emit, cancelled: threading.Event) -> None:
            emit(Started(prompt_tokens=1))
            for _ in range(limit):
                time.sleep(0.01)
                emit(TextDelta(text="x"))
            emit(Finish(reason="length", usage=Usage(prompt_tokens=1, completion_tokens=limit)))

        return _abandoning(stream_from_thread(work))


async def _abandoning(events: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """Re-yields without closing the inner stream: its cleanup waits for the GC."""
    async for event in events:
        yield event


def test_a_worker_left_running_after_aclose_fails() -> None:
    _fails(
        CHAT.test_closing_the_stream_mid_generation_stops_the_worker,
        _loaded(IgnoresCancellation),
        "worker threads still running",
    )


class NotRepeatable(Words):
    def chat(self, request: ChatRequest) -> AsyncIterator[Any]:
        return self._generate(f"{time.perf_counter_ns()} {request.messages[-1].text()}", 3)


def test_declaring_seed_without_honouring_it_fails() -> None:
    _fails(
        CHAT.test_same_seed_gives_the_same_text,
        _loaded(NotRepeatable, features=frozenset({Feature.SEED})),
        "not repeatable",
    )


def test_declaring_reasoning_without_following_the_thinking_fails() -> None:
    # the fake ignores request.thinking: its block never closes
    loaded = _loaded(Words, features=frozenset({Feature.REASONING}))
    _fails(CHAT.test_a_spent_thinking_budget_closes_the_block, loaded, "closed after")
    _fails(CHAT.test_thinking_switched_off_closes_the_block_at_once, loaded, "switched off")


class LaxOptions(msgspec.Struct, kw_only=True):
    reply: str = "echo"


def test_options_that_accept_unknown_keys_fail() -> None:
    _fails(
        CHAT.test_unknown_option_is_a_config_error_naming_the_key,
        _loaded(Words, options=LaxOptions),
        "accepted an unknown key",
    )


class Reversed(Words):
    async def embed(self, request: EmbedRequest) -> EmbedResult:
        result = await super().embed(request)
        return EmbedResult(vectors=result.vectors[::-1], prompt_tokens=result.prompt_tokens)


class Ragged(Words):
    async def embed(self, request: EmbedRequest) -> EmbedResult:
        result = await super().embed(request)
        vectors = [v[: len(v) - i] for i, v in enumerate(result.vectors)]
        return EmbedResult(vectors=vectors, prompt_tokens=result.prompt_tokens)


def test_vectors_out_of_order_fail() -> None:
    _fails(EMBED.test_vectors_come_in_input_order, _loaded(Reversed), "moved in the batch")


def test_vectors_of_different_sizes_fail() -> None:
    _fails(EMBED.test_one_fixed_size_finite_vector_per_input, _loaded(Ragged), "sizes differ")
