"""Dynamic embedding batching: many small concurrent requests vs one big in-process batch.

Measures on one model, in one run, in interleaved rounds (so background load on a shared
machine hits every mode alike; medians are reported):

1. in-process batched throughput: the loaded model's own ``embed()``, 32 sentences a call
   (no HTTP, no batcher): the ceiling; and, for reference, one sentence a call;
2. one request at a time: one HTTP client, one sentence per request, sequentially;
3. 32 concurrent HTTP clients, each sending one sentence per request (closed loop), which
   the server's batcher gathers into batches.

Goal: (3) >= 0.8 times (1) and >= 2.5 times (2). Every vector the clients get is checked
against the in-process one for the same sentence.

    .venv/bin/python benchmarks/embed_batching.py [--model all-minilm-onnx] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from _server import ROOT, sentences, serving
from modelport.core.config import load_config
from modelport.core.manager import ModelManager
from modelport.core.plugins import load_plugins
from modelport.core.types import EmbedRequest

_DECODE = msgspec.json.Decoder().decode


@asynccontextmanager
async def loaded_model(config: Path, model: str) -> AsyncIterator[Any]:
    """The model loaded in this process, as the server loads it."""
    cfg = load_config(config)
    plugins = load_plugins(disabled=cfg.plugins.disable)
    plugins.collect_backends()
    manager = ModelManager(cfg, plugins)
    try:
        async with manager.use(manager.resolve(model)) as loaded:
            yield loaded
    finally:
        await manager.close()


async def in_process(loaded: Any, model: str, texts: list[str], size: int) -> tuple[float, Any]:
    """Texts/s of the model's own ``embed()``, ``size`` texts a call; and the vectors."""
    started, vectors = time.perf_counter(), []
    for i in range(0, len(texts), size):
        chunk = tuple(texts[i : i + size])
        vectors.extend((await loaded.embed(EmbedRequest(model=model, inputs=chunk))).vectors)
    return len(texts) / (time.perf_counter() - started), vectors


def _request(model: str, text: str) -> bytes:
    body = msgspec.json.encode({"model": model, "input": text, "encoding_format": "base64"})
    head = (
        f"POST /v1/embeddings HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json"
        f"\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> Any:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = head.split(b" ", 2)[1]
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    body = await reader.readexactly(length)
    if status != b"200":
        raise RuntimeError(f"HTTP {status.decode()}: {body[:200]!r}")
    return _DECODE(body)


class Clients:
    """Closed-loop HTTP clients, each sending one sentence a request.

    Each client is a keep-alive HTTP/1.1 connection on raw asyncio streams with its
    requests encoded beforehand: about 0.1 ms of CPU a request, so on a small machine the
    clients do not take the CPU the server needs (httpx costs 10 to 50 times more; the
    end-to-end tests use the openai SDK). Every vector is checked against ``expected``.
    """

    def __init__(self, base_url: str, model: str, texts: list[str], expected: Any):
        self.host, port = base_url.removeprefix("http://").split(":")
        self.port = int(port)
        self.texts = texts
        self.expected = expected
        self.requests = [_request(model, t) for t in texts]
        self.done = self.wrong = 0
        self.lowest = 1.0  # the lowest cosine between a client's vector and the in-process one

    async def rate(self, count: int, seconds: float) -> float:
        """Texts/s of ``count`` clients over ``seconds``."""
        before = self.done
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()
        await asyncio.gather(*(self._client(c, count, deadline) for c in range(count)))
        return (self.done - before) / (time.perf_counter() - started)

    async def _client(self, first: int, count: int, deadline: float) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            i = first
            while time.perf_counter() < deadline:
                index = i % len(self.texts)
                data = await _post(reader, writer, self.requests[index])
                vector = np.frombuffer(base64.b64decode(data["data"][0]["embedding"]), "<f4")
                cosine = float(vector @ self.expected[index])
                self.lowest = min(self.lowest, cosine)
                if cosine < 0.9999:
                    self.wrong += 1
                self.done += 1
                i += count
        finally:
            writer.close()


async def measure(args: argparse.Namespace, url: str) -> dict[str, list[float]]:
    texts = sentences(512)
    results: dict[str, list[float]] = {"batched": [], "single": [], "one": [], "many": []}
    async with loaded_model(args.config, args.model) as loaded:
        await in_process(loaded, args.model, texts[: args.batch], args.batch)  # warm up
        _, vectors = await in_process(loaded, args.model, texts, args.batch)
        expected = np.array(vectors, dtype=np.float32)
        expected /= np.linalg.norm(expected, axis=1, keepdims=True)
        clients = Clients(url, args.model, texts, expected)
        await clients.rate(args.clients, 1.0)  # warm up the server
        for _ in range(args.rounds):
            results["batched"].append((await in_process(loaded, args.model, texts, args.batch))[0])
            results["single"].append((await in_process(loaded, args.model, texts[:128], 1))[0])
            results["one"].append(await clients.rate(1, args.seconds))
            results["many"].append(await clients.rate(args.clients, args.seconds))
    print(
        f"wrong vectors: {clients.wrong} of {clients.done} HTTP responses (cosine with the "
        f"in-process vector below 0.9999; lowest {clients.lowest:.5f})"
    )
    return results


def report(args: argparse.Namespace, results: dict[str, list[float]]) -> None:
    median = {k: statistics.median(v) for k, v in results.items()}
    rows = [
        (f"in-process embed(), batches of {args.batch}", "batched"),
        ("in-process embed(), one sentence a call", "single"),
        ("HTTP, 1 client, one sentence a request", "one"),
        (f"HTTP, {args.clients} concurrent clients, one sentence each", "many"),
    ]
    print(f"model {args.model}; {args.rounds} rounds; {args.seconds:.0f}s per HTTP run\n")
    print("| mode | texts/s (median) | per round |\n| --- | --- | --- |")
    for label, key in rows:
        rounds = ", ".join(f"{x:.0f}" for x in results[key])
        print(f"| {label} | {median[key]:.1f} | {rounds} |")
    ratios = [m / b for m, b in zip(results["many"], results["batched"], strict=True)]
    speedups = [m / o for m, o in zip(results["many"], results["one"], strict=True)]
    print(
        f"\nconcurrent / in-process batched: median {statistics.median(ratios):.2f} "
        f"(rounds {', '.join(f'{r:.2f}' for r in ratios)}; goal >= 0.8)"
    )
    print(
        f"concurrent / one at a time:      median {statistics.median(speedups):.2f} "
        f"(rounds {', '.join(f'{r:.2f}' for r in speedups)}; goal >= 2.5)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "plugins.toml")
    parser.add_argument("--model", default="all-minilm-onnx")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32, help="in-process batch size")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="per HTTP measurement")
    parser.add_argument("--base-url", help="use a running server instead of starting one")
    args = parser.parse_args()
    with serving(args.config, args.base_url) as url:
        results = asyncio.run(measure(args, url))
    report(args, results)


if __name__ == "__main__":
    main()
