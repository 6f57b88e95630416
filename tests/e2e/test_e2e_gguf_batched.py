"""The gguf backend with parallel slots: sequences batched in one context (issue #5)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest

from helpers import ROOT, ServerProcess, smollm2_gguf
from modelport.core.config import load_config

pytestmark = pytest.mark.e2e

PROMPTS = [
    "Write a poem about the sea.",
    "What is 2+2?",
    "Tell me about Paris.",
    "List three fruits.",
    "Explain gravity briefly.",
    "Say hello in French.",
]


@pytest.fixture(scope="module")
def batched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    config = load_config(ROOT / "plugins.toml")
    gguf = smollm2_gguf()
    path: Path = tmp_path_factory.mktemp("gguf-batched") / "plugins.toml"
    path.write_text(
        f'[server]\ndata_dir = "{config.data_path()}"\n'
        f'[[models]]\nname = "smollm2"\nbackend = "gguf"\nsource = "{gguf}"\n'
        'parallel = 8\nload = "eager"\n'
        "[models.options]\nn_ctx = 2048\nn_threads = 2\n"
    )
    server = ServerProcess(path)
    try:
        yield openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0)
    finally:
        server.stop()


def _stream(client: openai.OpenAI, prompt: str) -> tuple[str, str, int]:
    text, reason, usage = "", "", 0
    for chunk in client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": prompt}],
        max_tokens=24,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    ):
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            reason = chunk.choices[0].finish_reason or reason
        if chunk.usage:
            usage = chunk.usage.completion_tokens
    return text, reason, usage


def test_concurrent_streams_all_complete(batched: openai.OpenAI) -> None:
    with ThreadPoolExecutor(len(PROMPTS) * 2) as pool:
        results = list(pool.map(lambda p: _stream(batched, p), PROMPTS * 2))
    for text, reason, tokens in results:
        assert text and reason in ("stop", "length")
        assert tokens <= 24 and (reason == "stop" or tokens == 24)


STORIES = [
    "Tell me a story about a cat.",
    "Tell me a story about the sea.",
    "Describe a robot who loves music.",
    "Write about Paris in spring.",
    "What happens in winter?",
    "Tell me about a small dragon.",
    "Why is friendship important?",
    "Explain numbers to a child.",
]
NO_END = {"2": -100, "0": -100}  # <|im_end|> and <|endoftext|> banned: every stream runs 48


def _greedy(client: openai.OpenAI, prompt: str) -> str:
    resp = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": prompt}],
        max_tokens=48,
        temperature=0,
        logit_bias=NO_END,
    )
    assert resp.choices[0].finish_reason == "length"
    assert resp.usage is not None and resp.usage.completion_tokens == 48
    return resp.choices[0].message.content or ""


def test_concurrent_text_equals_alone(batched: openai.OpenAI) -> None:
    """At temperature 0 each of 8 concurrent streams says exactly what it says alone:
    a sequence's numbers do not depend on what else shares its batch."""
    alone = [_greedy(batched, p) for p in STORIES]
    with ThreadPoolExecutor(len(STORIES)) as pool:
        together = list(pool.map(lambda p: _greedy(batched, p), STORIES))
    assert together == alone
    assert len(set(alone)) == len(STORIES)


def test_n_choices_share_the_prompt_and_reproduce(batched: openai.OpenAI) -> None:
    """n=3 runs as three sequences at once (seeds seed+i); the same seeded request gives
    the same three texts again, and the same as three single requests with those seeds."""

    def ask(n: int, seed: int) -> list[str]:
        resp = batched.chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": "Tell me a story."}],
            max_tokens=16,
            temperature=1.0,
            seed=seed,
            n=n,
        )
        return [c.message.content or "" for c in resp.choices]

    three = ask(3, 11)
    assert len(set(three)) == 3
    assert ask(3, 11) == three
    assert [ask(1, 11 + i)[0] for i in range(3)] == three


def test_batched_sampling_features(batched: openai.OpenAI) -> None:
    resp = batched.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "Tell me a story."}],
        max_tokens=5,
        temperature=0,
        logprobs=True,
        top_logprobs=2,
        stop=["\n"],
    )
    content = resp.choices[0].logprobs.content
    assert 0 < len(content) <= 5 and all(len(t.top_logprobs) == 2 for t in content)
    seeded = [
        batched.chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": "Tell me a story."}],
            max_tokens=12,
            temperature=1.0,
            seed=3,
        )
        .choices[0]
        .message.content
        for _ in range(2)
    ]
    assert seeded[0] == seeded[1]
