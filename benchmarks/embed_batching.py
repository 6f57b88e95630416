"""Dynamic embedding batching: many small concurrent requests vs one big in-process batch.

Measures, in one run and on one model:

1. in-process batched throughput: the loaded model's own ``embed()``, 32 sentences a call
   (no HTTP, no batcher): the ceiling;
2. one request at a time: one HTTP client, one sentence per request, sequentially;
3. 32 concurrent HTTP clients, each sending one sentence per request (closed loop), which
   the server's batcher gathers into batches.

Goal: (3) ≥ 0.8 × (1) and ≥ 2.5 × (2). Every vector the clients get is checked against
the in-process one for the same sentence.

    .venv/bin/python benchmarks/embed_batching.py [--model all-minilm-onnx] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from _server import ROOT, sentences, serving

from modelport.core.config import load_config
from modelport.core.manager import ModelManager
from modelport.core.plugins import load_plugins
from modelport.core.types import EmbedRequest


async def in_process(config: Path, model: str, texts: list[str], batch: int) -> tuple[float, Any]:
    """Texts/s of the model's own ``embed()`` in batches, and the vectors it gave."""
    cfg = load_config(config)
    plugins = load_plugins(disabled=cfg.plugins.disable)
    plugins.collect_backends()
    manager = ModelManager(cfg, plugins)
    entry = manager.resolve(model)
    try:
        async with manager.use(entry) as loaded:
            await loaded.embed(EmbedRequest(model=model, inputs=tuple(texts[:batch])))
            best, vectors = 0.0, []
            for _ in range(2):
                started, vectors = time.perf_counter(), []
                for i in range(0, len(texts), batch):
                    chunk = tuple(texts[i : i + batch])
                    result = await loaded.embed(EmbedRequest(model=model, inputs=chunk))
                    vectors.extend(result.vectors)
                best = max(best, len(texts) / (time.perf_counter() - started))
    finally:
        await manager.close()
    return best, np.array(vectors, dtype=np.float32)


async def clients(base_url: str, model: str, texts: list[str], expected: Any, count: int,
                  seconds: float) -> tuple[float, int, int]:
    """Texts/s of ``count`` closed-loop clients sending one sentence each, for ``seconds``;
    and how many responses there were, and how many had the wrong vector."""
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    done = wrong = 0
    deadline = time.perf_counter() + seconds

    async def client(http: httpx.AsyncClient, first: int) -> None:
        nonlocal done, wrong
        i = first
        while time.perf_counter() < deadline:
            index = i % len(texts)
            body = {"model": model, "input": texts[index], "encoding_format": "base64"}
            resp = await http.post("/v1/embeddings", json=body)
            resp.raise_for_status()
            vector = np.frombuffer(base64.b64decode(resp.json()["data"][0]["embedding"]),
                                   dtype="<f4")
            if float(vector @ expected[index]) < 0.9999:
                wrong += 1
            done += 1
            i += count

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) as http:
        deadline = time.perf_counter() + 1.0
        await asyncio.gather(*(client(http, c) for c in range(count)))  # warm up
        done = wrong = 0
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()
        await asyncio.gather(*(client(http, c) for c in range(count)))
        elapsed = time.perf_counter() - started
    return done / elapsed, done, wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "plugins.toml")
    parser.add_argument("--model", default="all-minilm-onnx")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32, help="in-process batch size")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--base-url", help="use a running server instead of starting one")
    args = parser.parse_args()
    texts = sentences(512)
    batched, expected = asyncio.run(in_process(args.config, args.model, texts, args.batch))
    expected = expected / np.linalg.norm(expected, axis=1, keepdims=True)
    with serving(args.config, args.base_url) as url:
        single, n_single, bad_single = asyncio.run(
            clients(url, args.model, texts, expected, 1, args.seconds))
        many, n_many, bad_many = asyncio.run(
            clients(url, args.model, texts, expected, args.clients, args.seconds))
    print(f"model {args.model}; {len(texts)} distinct sentences; {args.seconds:.0f}s per HTTP run")
    print(f"{'mode':<44}{'texts/s':>10}{'requests':>10}")
    print(f"{f'in-process embed(), batches of {args.batch}':<44}{batched:>10.1f}{'-':>10}")
    print(f"{'HTTP, 1 client, one sentence a request':<44}{single:>10.1f}{n_single:>10}")
    label = f"HTTP, {args.clients} concurrent clients, one sentence each"
    print(f"{label:<44}{many:>10.1f}{n_many:>10}")
    print(f"concurrent / in-process batched = {many / batched:.2f} (goal >= 0.8)")
    print(f"concurrent / one at a time      = {many / single:.2f} (goal >= 2.5)")
    print(f"wrong vectors: {bad_single + bad_many} of {n_single + n_many}")


if __name__ == "__main__":
    main()
