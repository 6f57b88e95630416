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
        'parallel = 4\nload = "eager"\n'
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
    # Not asserted yet (issue #5): equal text for the same prompt in different batch
    # compositions; llama.cpp's kernels differ in rounding with the batch size.


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
