"""One model, two runtimes, side by side: the same requests, the same client code (the
openai SDK), the same server run.

- embeddings: all-minilm (sentence-transformers, PyTorch) vs all-minilm-onnx (onnxruntime):
  latency of one-sentence requests, and texts/s of 64-sentence requests;
- chat: smollm2 (GGUF, llama.cpp) vs smollm2-onnx (onnxruntime-genai, int4): time to first
  token and decode tokens/s of a streamed greedy answer.

Runtimes alternate within each repetition, so background load hits both alike.

    .venv/bin/python benchmarks/runtime_swap.py [--repeat 3] [--base-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import openai

from _server import ROOT, sentences, serving

EMBED_MODELS = ("all-minilm", "all-minilm-onnx")
CHAT_MODELS = ("smollm2", "smollm2-onnx")
STORY = [{"role": "user", "content": "Write a long story about a dragon and a knight."}]


def embed_latency(client: openai.OpenAI, model: str, texts: list[str]) -> list[float]:
    """Milliseconds of each one-sentence request."""
    times = []
    for text in texts:
        started = time.perf_counter()
        client.embeddings.create(model=model, input=text)
        times.append(1000 * (time.perf_counter() - started))
    return times


def embed_throughput(client: openai.OpenAI, model: str, texts: list[str], batch: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        client.embeddings.create(model=model, input=texts[i : i + batch])
    return len(texts) / (time.perf_counter() - started)


def chat_stream(client: openai.OpenAI, model: str, max_tokens: int) -> tuple[float, float, int]:
    """Time to first token (ms), decode tokens/s after it, and tokens generated."""
    started = time.perf_counter()
    first = last = 0.0
    tokens = 0
    stream = client.chat.completions.create(
        model=model,
        messages=STORY,
        temperature=0,
        max_tokens=max_tokens,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            last = time.perf_counter()
            first = first or last
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    decode = (tokens - 1) / (last - first) if tokens > 1 and last > first else float("nan")
    return 1000 * (first - started), decode, tokens


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "plugins.toml")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--base-url", help="use a running server instead of starting one")
    args = parser.parse_args()
    texts = sentences(256)
    latency: dict[str, list[float]] = {m: [] for m in EMBED_MODELS}
    rate: dict[str, list[float]] = {m: [] for m in EMBED_MODELS}
    chat: dict[str, list[tuple[float, float, int]]] = {m: [] for m in CHAT_MODELS}
    with serving(args.config, args.base_url) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="bench", max_retries=0, timeout=600)
        for model in EMBED_MODELS:  # load (and convert, when cold) before timing
            client.embeddings.create(model=model, input=texts[:64])
        for model in CHAT_MODELS:
            chat_stream(client, model, 4)
        for _ in range(args.repeat):
            for model in EMBED_MODELS:
                latency[model] += embed_latency(client, model, texts[:40])
                rate[model].append(embed_throughput(client, model, texts, 64))
            for model in CHAT_MODELS:
                chat[model].append(chat_stream(client, model, args.max_tokens))
    print("\nEmbeddings (the same 256 sentences; medians over the repetitions)\n")
    print(
        _row(
            [
                "model",
                "runtime",
                "p50 latency, 1 sentence (ms)",
                "p95 (ms)",
                "texts/s, 64 a request",
            ]
        )
    )
    print(_row(["---"] * 5))
    for model, runtime in zip(EMBED_MODELS, ("sentence-transformers", "onnxruntime"), strict=True):
        p50, p95 = np.percentile(latency[model], [50, 95])
        print(
            _row(
                [
                    model,
                    runtime,
                    f"{p50:.1f}",
                    f"{p95:.1f}",
                    f"{statistics.median(rate[model]):.0f}",
                ]
            )
        )
    print(f"\nChat (greedy, streamed, max_tokens {args.max_tokens}; medians)\n")
    print(_row(["model", "runtime", "time to first token (ms)", "decode tokens/s", "tokens"]))
    print(_row(["---"] * 5))
    for model, runtime in zip(
        CHAT_MODELS, ("llama.cpp, GGUF Q4_1", "onnxruntime-genai, int4"), strict=True
    ):
        ttft, decode, tokens = (statistics.median(x) for x in zip(*chat[model], strict=True))
        print(_row([model, runtime, f"{ttft:.0f}", f"{decode:.1f}", f"{tokens:.0f}"]))


if __name__ == "__main__":
    main()
