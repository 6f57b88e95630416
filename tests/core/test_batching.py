"""Dynamic embedding batching: concurrency really batches, order, error isolation, slots."""

from __future__ import annotations

import asyncio
import time

import pytest

from modelport.core import BackendRegistry, BackendSpec, Capability, Feature, hookimpl
from modelport.core.batching import EmbedBatcher, split_tokens
from modelport.core.config import decode_config
from modelport.core.errors import BackendError, ModelLoadFailed, Overloaded
from modelport.core.manager import ModelManager
from modelport.core.plugins import load_plugins
from modelport.core.service import ModelService
from modelport.core.types import EmbedRequest, EmbedResult


def vector_of(item: str | tuple[int, ...]) -> list[float]:
    """A distinct vector per input, so a mix-up between clients cannot go unnoticed."""
    text = item if isinstance(item, str) else ",".join(map(str, item))
    return [float(len(text)), float(sum(map(ord, text)) % 9973), float(hash(text) % 1000)]


class RecordingModel:
    """Embeds like a real model would: one call per batch, taking ``delay`` seconds."""

    def __init__(self, delay: float = 0.02, fail_on: str | None = None):
        self.delay = delay
        self.fail_on = fail_on
        self.calls: list[tuple[str | tuple[int, ...], ...]] = []
        self.concurrent = 0
        self.most_concurrent = 0

    async def embed(self, request: EmbedRequest) -> EmbedResult:
        self.calls.append(tuple(request.inputs))
        self.concurrent += 1
        self.most_concurrent = max(self.most_concurrent, self.concurrent)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.concurrent -= 1
        if self.fail_on is not None and self.fail_on in request.inputs:
            raise BackendError(f"cannot embed {self.fail_on!r}")
        return EmbedResult(
            vectors=[vector_of(x) for x in request.inputs],
            prompt_tokens=sum(len(x) for x in request.inputs),
            input_tokens=[len(x) for x in request.inputs],
        )


def request(*inputs: str, dimensions: int | None = None) -> EmbedRequest:
    return EmbedRequest(model="m", inputs=inputs, dimensions=dimensions)


async def test_concurrent_requests_share_batches_and_each_gets_its_own_vectors() -> None:
    model = RecordingModel(delay=0.02)
    batcher = EmbedBatcher(model.embed, max_inputs=64, window=0.01)
    requests = [request(f"sentence number {i}", f"and its second part {i}") for i in range(24)]
    results = await asyncio.gather(*(batcher.embed(r) for r in requests))
    assert len(model.calls) < 6, f"24 concurrent requests took {len(model.calls)} calls"
    assert max(len(c) for c in model.calls) >= 16
    for req, result in zip(requests, results, strict=True):
        assert result.vectors == [vector_of(x) for x in req.inputs]
        assert result.prompt_tokens == sum(len(x) for x in req.inputs)
        assert result.input_tokens == [len(x) for x in req.inputs]


async def test_requests_arriving_during_a_batch_form_the_next_one() -> None:
    model = RecordingModel(delay=0.05)
    batcher = EmbedBatcher(model.embed, max_inputs=64, window=0.0)
    first = asyncio.ensure_future(batcher.embed(request("first")))
    await asyncio.sleep(0.01)  # the first batch is running now
    later = [request(f"later {i}") for i in range(10)]
    results = await asyncio.gather(*(batcher.embed(r) for r in later))
    await first
    assert model.calls == [("first",), tuple(f"later {i}" for i in range(10))]
    assert [r.vectors[0] for r in results] == [vector_of(f"later {i}") for i in range(10)]


async def test_a_lone_client_never_waits_for_the_window() -> None:
    model = RecordingModel(delay=0.0)
    batcher = EmbedBatcher(model.embed, window=1.0)
    started = time.monotonic()
    for i in range(5):
        result = await batcher.embed(request(f"alone {i}"))
        assert result.vectors == [vector_of(f"alone {i}")]
    assert time.monotonic() - started < 0.5
    assert len(model.calls) == 5


async def test_a_crowd_that_comes_back_together_keeps_its_batches_full() -> None:
    model = RecordingModel(delay=0.01)
    batcher = EmbedBatcher(model.embed, window=0.3)

    async def client(c: int) -> None:
        for round_ in range(5):
            await asyncio.sleep(0.001 * c)  # the clients come back a little apart
            result = await batcher.embed(request(f"client {c} round {round_}"))
            assert result.vectors == [vector_of(f"client {c} round {round_}")]

    started = time.monotonic()
    await asyncio.gather(*(client(c) for c in range(8)))
    # The first request finds the model idle and runs alone; then all eight clients share
    # every batch; only the last batch, when the crowd is gone, waits out the window.
    assert [len(c) for c in model.calls] == [1, 8, 8, 8, 8, 7]
    assert time.monotonic() - started < 0.3 + 0.25, "it waited for company already there"


async def test_batches_never_exceed_max_inputs_but_a_large_request_runs_alone() -> None:
    model = RecordingModel(delay=0.01)
    batcher = EmbedBatcher(model.embed, max_inputs=8, window=0.01)
    big = request(*(f"big {i}" for i in range(20)))
    small = [request(f"s{i}a", f"s{i}b", f"s{i}c") for i in range(10)]
    results = await asyncio.gather(batcher.embed(big), *(batcher.embed(r) for r in small))
    big_calls = [c for c in model.calls if "big 0" in c]
    assert big_calls == [tuple(big.inputs)], "the large request ran alone and whole"
    others = [c for c in model.calls if "big 0" not in c]
    assert all(len(c) <= 8 for c in others)
    assert any(len(c) == 6 for c in others), "two 3-input requests shared a batch"
    assert results[0].vectors == [vector_of(f"big {i}") for i in range(20)]
    for req, result in zip(small, results[1:], strict=True):
        assert result.vectors == [vector_of(x) for x in req.inputs]


async def test_one_bad_input_fails_only_its_own_request() -> None:
    model = RecordingModel(delay=0.01, fail_on="poison")
    batcher = EmbedBatcher(model.embed, window=0.02)
    good = [request(f"good {i}") for i in range(6)]
    outcomes = await asyncio.gather(
        *(batcher.embed(r) for r in good[:3]),
        batcher.embed(request("poison")),
        *(batcher.embed(r) for r in good[3:]),
        return_exceptions=True,
    )
    assert isinstance(outcomes[3], BackendError)
    assert any(len(c) > 1 and "poison" in c for c in model.calls), "it was batched first"
    assert ("poison",) in model.calls, "then retried on its own"
    ok = [o for i, o in enumerate(outcomes) if i != 3]
    assert all(isinstance(o, EmbedResult) for o in ok)
    assert [o.vectors[0] for o in ok] == [vector_of(r.inputs[0]) for r in good]  # type: ignore[union-attr]


async def test_model_level_errors_fail_the_batch_without_retries() -> None:
    calls = 0

    async def broken(_: EmbedRequest) -> EmbedResult:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        raise ModelLoadFailed("model 'm' failed to load: no file")

    batcher = EmbedBatcher(broken, window=0.02)
    first = asyncio.ensure_future(batcher.embed(request("a")))
    await asyncio.sleep(0)
    outcomes = await asyncio.gather(
        *(batcher.embed(request(f"x{i}")) for i in range(5)), return_exceptions=True
    )
    assert all(isinstance(o, ModelLoadFailed) for o in outcomes)
    with pytest.raises(ModelLoadFailed):
        await first
    assert calls == 2, "one call for the first request, one for the batch that followed"


async def test_a_client_that_goes_away_does_not_disturb_the_others() -> None:
    model = RecordingModel(delay=0.03)
    batcher = EmbedBatcher(model.embed, window=0.0)
    busy = asyncio.ensure_future(batcher.embed(request("busy")))
    await asyncio.sleep(0.005)
    leaving = asyncio.ensure_future(batcher.embed(request("leaving")))
    staying = asyncio.ensure_future(batcher.embed(request("staying")))
    await asyncio.sleep(0.005)
    leaving.cancel()
    result = await staying
    await busy
    assert result.vectors == [vector_of("staying")]
    assert all("leaving" not in call for call in model.calls)


async def test_text_and_token_inputs_are_never_merged() -> None:
    model = RecordingModel(delay=0.02)
    batcher = EmbedBatcher(model.embed, window=0.02)
    first = asyncio.ensure_future(batcher.embed(request("warm")))
    await asyncio.sleep(0)
    tokens = EmbedRequest(model="m", inputs=((1, 2, 3),))
    results = await asyncio.gather(
        batcher.embed(request("text a")), batcher.embed(tokens), batcher.embed(request("text b"))
    )
    await first
    assert results[1].vectors == [vector_of((1, 2, 3))]
    assert (("text a", "text b")) in model.calls
    assert (((1, 2, 3),)) in model.calls


@pytest.mark.parametrize("native", [True, False])
async def test_dimensions_split_batches_only_when_the_backend_applies_them(native: bool) -> None:
    model = RecordingModel(delay=0.02)
    batcher = EmbedBatcher(model.embed, window=0.02, native_dimensions=native)
    first = asyncio.ensure_future(batcher.embed(request("warm")))
    await asyncio.sleep(0)
    await asyncio.gather(batcher.embed(request("a", dimensions=2)), batcher.embed(request("b")))
    await first
    if native:
        assert ("a",) in model.calls and ("b",) in model.calls
    else:
        assert ("a", "b") in model.calls, "core truncates afterwards, so they can share"


async def test_a_full_queue_is_overloaded_not_unbounded() -> None:
    model = RecordingModel(delay=0.05)
    batcher = EmbedBatcher(model.embed, max_pending=2, window=0.0)
    running = asyncio.ensure_future(batcher.embed(request("running")))
    await asyncio.sleep(0.01)
    queued = [asyncio.ensure_future(batcher.embed(request(f"q{i}"))) for i in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(Overloaded):
        await batcher.embed(request("one too many"))
    await asyncio.gather(running, *queued)


def test_split_tokens_shares_a_total_exactly() -> None:
    assert split_tokens(10, [1, 1, 1]) == [4, 3, 3]
    assert sum(split_tokens(97, [5, 17, 3, 40])) == 97
    assert split_tokens(5, [0, 0]) in ([3, 2], [2, 3])
    assert split_tokens(0, []) == []


async def test_usage_is_shared_out_when_the_backend_gives_only_a_total() -> None:
    async def total_only(req: EmbedRequest) -> EmbedResult:
        await asyncio.sleep(0.01)
        return EmbedResult(vectors=[[1.0] for _ in req.inputs], prompt_tokens=30)

    batcher = EmbedBatcher(total_only, window=0.02)
    first = asyncio.ensure_future(batcher.embed(request("warm up")))
    await asyncio.sleep(0)
    a, b = await asyncio.gather(batcher.embed(request("aaaa")), batcher.embed(request("bb")))
    await first
    assert a.prompt_tokens + b.prompt_tokens == 30
    assert a.prompt_tokens == 20


# --- through the service and the model manager's slots --------------------------------


class _RecordingPlugin:
    def __init__(self, model: RecordingModel):
        self.model = model

    @hookimpl
    def register_backends(self, registry: BackendRegistry) -> None:
        registry.add(
            BackendSpec(
                name="recording",
                capabilities=frozenset({Capability.EMBED}),
                features=frozenset({Feature.TOKEN_INPUT}),
                load=lambda _: self.model,
                needs_source=False,
            )
        )


def _service(model: RecordingModel, extra: str = "") -> ModelService:
    plugins = load_plugins(entry_points=False, extra=[("recording", _RecordingPlugin(model))])
    plugins.collect_backends()
    toml = f'[[models]]\nname = "m"\nbackend = "recording"\n{extra}'
    return ModelService(ModelManager(decode_config(toml), plugins))


async def test_service_batches_within_the_model_slot_without_deadlock() -> None:
    model = RecordingModel(delay=0.02)
    service = _service(model, "parallel = 1\n[models.batching]\nwindow = '10ms'\n")
    reqs = [request(f"client {i}") for i in range(32)]
    results = await asyncio.wait_for(asyncio.gather(*(service.embed(r) for r in reqs)), 10)
    assert [r.vectors for r in results] == [[vector_of(f"client {i}")] for i in range(32)]
    assert len(model.calls) < 8
    assert model.most_concurrent == 1, "one slot: batches run one at a time"
    await service.manager.close()


async def test_service_runs_up_to_parallel_batches_at_once() -> None:
    model = RecordingModel(delay=0.05)
    service = _service(model, "parallel = 2\n[models.batching]\nmax_inputs = 4\nwindow = '0ms'\n")
    reqs = [request(f"client {i}") for i in range(16)]
    results = await asyncio.wait_for(asyncio.gather(*(service.embed(r) for r in reqs)), 10)
    assert [r.vectors for r in results] == [[vector_of(f"client {i}")] for i in range(16)]
    assert model.most_concurrent == 2
    await service.manager.close()


async def test_batching_can_be_disabled() -> None:
    model = RecordingModel(delay=0.01)
    service = _service(model, "parallel = 4\n[models.batching]\nenabled = false\n")
    await asyncio.gather(*(service.embed(request(f"c{i}")) for i in range(6)))
    assert sorted(model.calls) == sorted((f"c{i}",) for i in range(6))
    await service.manager.close()
