"""The generation contract, shared by ``ChatConformance`` and ``CompleteConformance``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

import msgspec
import pytest

from modelport.core.capabilities import Feature
from modelport.core.errors import InvalidRequest, ModelportError, Unsupported
from modelport.core.generation import collect
from modelport.core.parameters import SAMPLING
from modelport.core.service import ModelService
from modelport.core.types import Sampling, TextDelta

from ._base import ConformanceBase
from ._checks import (
    Stream,
    assert_pool_idle,
    busy_pool_threads,
    drain,
    expect_core_error_or_result,
    run,
)
from ._subject import LoadedModel, service_for

__all__ = ["FeatureProbe", "GenerationConformance"]

Request = Any
# A request that needs one feature: how to make it from a plain one, and the param a
# refusal must name. Features core provides a fallback for (stop, n, dimensions) have none.
FeatureProbe = tuple[Callable[[Request], Request], str]

# More tokens than characters (emoji, CJK, combining marks) overflow some runtimes'
# token buffers; a long word or whitespace run defeats recursive regex pre-tokenisers.
HOSTILE_TEXTS = (
    "",
    "😀" * 64,
    "漢字とかなカナ한국어" * 16,
    "a" * 20_000,
    "\x00\x01\x02 control \x7f\x1b[0m",
    " " * 600 + "\n" * 100 + "\t" * 50,
    "e\u0301" * 64 + "\u200b\u202e\ufeff",
)


def _sampling(request: Request, **changes: Any) -> Request:
    return msgspec.structs.replace(
        request, sampling=msgspec.structs.replace(request.sampling, **changes)
    )


def _probe(feature: Feature) -> FeatureProbe:
    """Every declared sampling parameter that ``feature`` gates, at its probe value; a
    refusal names the first of them (the contract checks them in declared order)."""
    gated = [p for p in SAMPLING if p.feature == feature]
    values = {p.name: p.probe for p in gated}
    return (lambda r: _sampling(r, **values), gated[0].name)


# One probe per gated feature (from the declared sampling parameters), then the
# parameters with a shape of their own.
SAMPLING_PROBES: dict[Feature, FeatureProbe] = {
    **{p.feature: _probe(p.feature) for p in SAMPLING if p.feature is not None},
    Feature.LOGIT_BIAS: (lambda r: _sampling(r, logit_bias={0: 1.0}), "logit_bias"),
    Feature.LOGPROBS: (lambda r: _sampling(r, logprobs=True), "logprobs"),
}


class GenerationConformance(ConformanceBase):
    """Checks for a streaming generation capability. Subclasses say how to build a
    request and which method streams it."""

    #: The text every check sends; pick one your model answers at length.
    prompt: ClassVar[str] = (
        "Write a long story about a dragon who guards a library of forgotten books."
    )
    #: How many tokens the checks ask for (keep it small: each check generates).
    max_tokens: ClassVar[int] = 8
    #: How long the probe for a stop sequence is.
    stop_probe_tokens: ClassVar[int] = 16
    #: max_tokens of the generation the cancellation check abandons (None: no limit).
    cancel_max_tokens: ClassVar[int | None] = None
    #: Seconds a closed stream may take to stop, and a later request to complete.
    deadline: ClassVar[float] = 30.0
    #: Words in the prompt that must be refused as too long or served anyway.
    oversized_words: ClassVar[int] = 50_000
    probes: ClassVar[dict[Feature, FeatureProbe]] = SAMPLING_PROBES

    # --- what a capability provides -------------------------------------------------

    def request(self, text: str, **sampling: Any) -> Request:
        raise NotImplementedError

    def backend_stream(self, model: object, request: Request) -> AsyncIterator[Any]:
        raise NotImplementedError

    def service_stream(self, service: ModelService, request: Request) -> AsyncIterator[Any]:
        raise NotImplementedError

    def greedy(self, max_tokens: int | None, **sampling: Any) -> Request:
        return self.request(self.prompt, max_tokens=max_tokens, temperature=0.0, **sampling)

    # --- the event contract ---------------------------------------------------------

    def test_stream_is_started_deltas_and_one_finish_with_usage(
        self, conformance_model: LoadedModel
    ) -> None:
        request = self.greedy(self.max_tokens)
        stream = run(drain(self.backend_stream(conformance_model.model, request)))
        stream.check_order("backend stream").check_usage("backend stream")
        assert stream.finish.usage.completion_tokens <= self.max_tokens

    def test_max_tokens_is_honoured_with_reason_length(
        self, conformance_model: LoadedModel
    ) -> None:
        for limit in (1, self.max_tokens):
            stream = run(drain(self.backend_stream(conformance_model.model, self.greedy(limit))))
            stream.check_order(f"max_tokens={limit}")
            finish = stream.finish
            assert (finish.reason, finish.usage.completion_tokens) == ("length", limit), (
                f"max_tokens={limit} gave reason {finish.reason!r} after "
                f"{finish.usage.completion_tokens} tokens; expected 'length' after {limit} "
                "(if the model ended on its own, choose a prompt it answers at length)"
            )

    def test_collected_text_equals_streamed_text(self, conformance_model: LoadedModel) -> None:
        async def both() -> tuple[Stream, Any]:
            service = service_for(conformance_model)
            streamed = await drain(self.service_stream(service, self.greedy(self.max_tokens)))
            collected = await collect(self.service_stream(service, self.greedy(self.max_tokens)))
            return streamed, collected

        streamed, collected = run(both())
        streamed.check_order("service stream")
        assert collected.text == streamed.text, "greedy generation must be repeatable"
        assert collected.reason == streamed.finish.reason
        assert collected.usage == streamed.finish.usage

    # --- stop sequences -------------------------------------------------------------

    def _probe_text(self, service: ModelService) -> Stream:
        return run(drain(self.service_stream(service, self.greedy(self.stop_probe_tokens))))

    def test_stop_sequence_ends_the_text_before_it(self, conformance_model: LoadedModel) -> None:
        probe = self._probe_text(service_for(conformance_model)).text
        assert len(probe.strip()) >= 4, (
            f"the prompt produced {probe!r}: too little text to test stop sequences"
        )
        start = len(probe) // 2
        while start < len(probe) - 1 and probe[start].isspace():
            start += 1
        stop = probe[start : start + 2]
        expected = probe[: probe.find(stop)]
        request = self.greedy(self.stop_probe_tokens, stop=(stop,))
        stream = run(drain(self.service_stream(service_for(conformance_model), request)))
        stream.check_order(f"stop={stop!r}")
        assert stream.text == expected, f"stop={stop!r} in {probe!r}"
        assert stream.finish.reason == "stop"

    def test_stop_sequence_never_generated_changes_nothing(
        self, conformance_model: LoadedModel
    ) -> None:
        probe = self._probe_text(service_for(conformance_model))
        request = self.greedy(self.stop_probe_tokens, stop=("\x00never generated\x00",))
        stream = run(drain(self.service_stream(service_for(conformance_model), request)))
        assert (stream.text, stream.finish.reason) == (probe.text, probe.finish.reason)

    # --- cancellation ---------------------------------------------------------------

    async def _abandon(self, events: AsyncIterator[Any], who: str) -> None:
        close = getattr(events, "aclose", None)
        assert close is not None, (
            f"{who} returned {type(events).__name__}, which has no aclose(): the server "
            "could not stop generation when a client goes away; write an async generator"
        )
        async for event in events:
            if isinstance(event, TextDelta) and event.text:
                break
        else:
            raise AssertionError(f"{who}: generation ended before the first text delta")
        started = time.monotonic()
        await asyncio.wait_for(close(), self.deadline)
        assert time.monotonic() - started < self.deadline

    def test_closing_the_stream_mid_generation_stops_the_worker(
        self, conformance_model: LoadedModel
    ) -> None:
        baseline = busy_pool_threads()
        model = conformance_model.model
        request = self.greedy(self.cancel_max_tokens)

        async def abandon_then_ask_again() -> Stream:
            await self._abandon(self.backend_stream(model, request), "the backend's stream")
            assert_pool_idle("after aclose()", baseline)
            follow_up = self.backend_stream(model, self.greedy(1))
            return await asyncio.wait_for(drain(follow_up), self.deadline)

        stream = run(abandon_then_ask_again())
        stream.check_order("the request after a cancelled one")

    def test_closing_the_service_stream_frees_the_model(
        self, conformance_model: LoadedModel
    ) -> None:
        baseline = busy_pool_threads()
        request = self.greedy(self.cancel_max_tokens)

        async def abandon_then_ask_again() -> Stream:
            service = service_for(conformance_model)
            await self._abandon(self.service_stream(service, request), "ModelService")
            assert_pool_idle("after closing the service's stream", baseline)
            follow_up = self.service_stream(service, self.greedy(1))
            return await asyncio.wait_for(drain(follow_up), self.deadline)

        run(abandon_then_ask_again()).check_order("the request after a cancelled one")

    # --- the declared contract ------------------------------------------------------

    def _features(self, loaded: LoadedModel) -> frozenset[Feature]:
        return loaded.spec.model_features(loaded.decoded_options(), loaded.model)

    def test_undeclared_features_are_refused_naming_the_parameter(
        self, conformance_model: LoadedModel
    ) -> None:
        features = self._features(conformance_model)
        for feature, (needing, param) in self.probes.items():
            if feature in features:
                continue
            request = needing(self.greedy(self.max_tokens))
            service = service_for(conformance_model)
            try:
                run(drain(self.service_stream(service, request)))
            except Unsupported as exc:
                assert exc.param == param, f"{feature}: refusal names {exc.param!r}, not {param!r}"
            else:
                raise AssertionError(f"undeclared feature {feature!r} ({param}) was not refused")

    def test_declared_features_are_served(self, conformance_model: LoadedModel) -> None:
        features = self._features(conformance_model)
        for feature, (needing, _) in self.probes.items():
            if feature not in features:
                continue
            request = needing(self.greedy(self.max_tokens))
            stream = run(drain(self.service_stream(service_for(conformance_model), request)))
            stream.check_order(f"a request using declared feature {feature!r}")

    def test_same_seed_gives_the_same_text(self, conformance_model: LoadedModel) -> None:
        if Feature.SEED not in self._features(conformance_model):
            pytest.skip("the backend does not declare 'seed'")
        request = self.request(self.prompt, max_tokens=self.max_tokens, temperature=1.0, seed=11)
        first = run(drain(self.service_stream(service_for(conformance_model), request)))
        second = run(drain(self.service_stream(service_for(conformance_model), request)))
        assert first.text == second.text, "the backend declares 'seed' but is not repeatable"

    # --- errors ---------------------------------------------------------------------

    def hostile_requests(self) -> list[Request]:
        requests = [self.request(text, max_tokens=4, temperature=0.0) for text in HOSTILE_TEXTS]
        requests.append(self.request(self.prompt, max_tokens=10**7, temperature=0.0))
        requests.append(self.request(self.prompt, max_tokens=2, temperature=2.0, top_p=1e-9))
        # Sampler edge cases: no top-k at all, more than the vocabulary, near-zero heat.
        requests.append(self.request(self.prompt, max_tokens=2, temperature=1.0, top_k=0))
        requests.append(self.request(self.prompt, max_tokens=2, temperature=1.0, top_k=10**6))
        requests.append(self.request(self.prompt, max_tokens=2, temperature=1e-9))
        return requests

    def test_hostile_input_raises_only_core_errors(self, conformance_model: LoadedModel) -> None:
        for request in self.hostile_requests():

            async def attempt(request: Request = request) -> Stream:
                return await drain(self.service_stream(service_for(conformance_model), request))

            outcome = run(expect_core_error_or_result(attempt, f"request {request!r:.200}"))
            if isinstance(outcome, Stream):
                outcome.check_order(f"request {request!r:.200}")

    def test_oversized_prompt_is_refused_as_invalid_or_served(
        self, conformance_model: LoadedModel
    ) -> None:
        request = self.request("hello " * self.oversized_words, max_tokens=1, temperature=0.0)

        async def attempt() -> Stream:
            return await drain(self.service_stream(service_for(conformance_model), request))

        outcome = run(expect_core_error_or_result(attempt, "an oversized prompt"))
        if isinstance(outcome, ModelportError):
            assert isinstance(outcome, InvalidRequest), (
                f"an oversized prompt gave {type(outcome).__name__} (a server error); "
                "raise ContextLengthExceeded"
            )
        else:
            outcome.check_order("an oversized prompt")


def sampling_of(**values: Any) -> Sampling:
    """A ``Sampling`` from keyword values, dropping those left as None."""
    return Sampling(**{k: v for k, v in values.items() if v is not None})
