"""The gguf batch scheduler in process: prompt evaluation shared between sequences."""

from __future__ import annotations

import asyncio

import pytest

from helpers import smollm2_gguf
from modelport.backends.gguf import GgufOptions
from modelport.backends.gguf.batched import PREFILL_CHUNK
from modelport.backends.gguf.model import GgufModel
from modelport.core import ChatRequest, Finish, LoadContext, Message, Sampling, TextDelta


@pytest.fixture(scope="module")
def model() -> GgufModel:
    options = GgufOptions(n_ctx=1024, n_threads=2)
    loaded = GgufModel.load(
        LoadContext(name="smollm2", path=smollm2_gguf(), options=options, parallel=4)
    )
    yield loaded
    loaded.close()


def _request(text: str, seed: int) -> ChatRequest:
    return ChatRequest(
        model="smollm2",
        messages=(Message(role="user", content=text),),
        sampling=Sampling(temperature=1.0, seed=seed, max_tokens=8),
    )


async def _run(model: GgufModel, request: ChatRequest) -> tuple[str, Finish]:
    text, finish = "", None
    async for event in model.chat(request):
        if isinstance(event, TextDelta):
            text += event.text
        elif isinstance(event, Finish):
            finish = event
    assert finish is not None
    return text, finish


# A prompt of several prefill units (PREFILL_CHUNK tokens each): its complete units are
# shared, the last, shorter one is evaluated by each sequence (see batched.py).
LONG = "Here is a list of things to remember: " + ", ".join(
    f"item {i} is a {w}" for i, w in enumerate(["cat", "dog", "tree", "cloud", "river"] * 6)
)


def test_concurrent_same_prompt_shares_its_units(model: GgufModel) -> None:
    scheduler = model.scheduler
    assert scheduler is not None
    before = scheduler.evaluated
    results = asyncio.run(_gather(model, [_request(LONG, seed) for seed in (1, 2, 3)]))
    prompt = results[0][1].usage.prompt_tokens
    assert prompt > 2 * PREFILL_CHUNK
    tail = prompt - (prompt - 1) // PREFILL_CHUNK * PREFILL_CHUNK
    # One full evaluation; the other two copy its complete units.
    assert scheduler.evaluated - before == prompt + 2 * tail
    assert all(f.usage.completion_tokens == 8 for _, f in results)
    assert len({text for text, _ in results}) == 3


def test_slot_keeps_its_prefix_and_the_numbers_stay_the_same(model: GgufModel) -> None:
    """A warm slot evaluates only the prompt's last unit again, and samples exactly what
    a cold model samples (same seed, temperature 1)."""
    scheduler = model.scheduler
    assert scheduler is not None
    asyncio.run(_run(model, _request(LONG, 5)))
    before = scheduler.evaluated
    warm, finish = asyncio.run(_run(model, _request(LONG + " And more.", 6)))
    prompt = finish.usage.prompt_tokens
    assert scheduler.evaluated - before == prompt - (prompt - 1) // PREFILL_CHUNK * PREFILL_CHUNK
    cold_model = GgufModel.load(
        LoadContext(
            name="smollm2",
            path=smollm2_gguf(),
            options=GgufOptions(n_ctx=1024, n_threads=2),
            parallel=1,
        )
    )
    try:
        cold, _ = asyncio.run(_run(cold_model, _request(LONG + " And more.", 6)))
    finally:
        cold_model.close()
    assert warm == cold


async def _gather(model: GgufModel, requests: list[ChatRequest]) -> list[tuple[str, Finish]]:
    return list(await asyncio.gather(*(_run(model, r) for r in requests)))
