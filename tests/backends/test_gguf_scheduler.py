"""The gguf batch scheduler in process: prompt evaluation shared between sequences."""

from __future__ import annotations

import asyncio

import pytest

from helpers import smollm2_gguf
from modelport.backends.gguf import GgufOptions
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


def test_concurrent_same_prompt_is_evaluated_once(model: GgufModel) -> None:
    scheduler = model.scheduler
    assert scheduler is not None
    prompt = "Tell me something about the moon and the stars, please."
    before = scheduler.evaluated
    results = asyncio.run(_gather(model, [_request(prompt, seed) for seed in (1, 2, 3)]))
    prompt_tokens = results[0][1].usage.prompt_tokens
    # One full evaluation; the other two copy its KV and evaluate only the last token.
    assert scheduler.evaluated - before == prompt_tokens + 2
    assert all(f.usage.completion_tokens == 8 for _, f in results)
    assert len({text for text, _ in results}) == 3


def test_slot_keeps_its_prefix(model: GgufModel) -> None:
    scheduler = model.scheduler
    assert scheduler is not None
    asyncio.run(_run(model, _request("Count from one to ten.", 5)))
    before = scheduler.evaluated
    asyncio.run(_run(model, _request("Count from one to ten.", 6)))
    assert scheduler.evaluated - before == 1  # only the last prompt token again


async def _gather(model: GgufModel, requests: list[ChatRequest]) -> list[tuple[str, Finish]]:
    return list(await asyncio.gather(*(_run(model, r) for r in requests)))
