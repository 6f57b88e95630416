"""Concurrent streaming chat against modelport's gguf backend, against raw llama-cpp-python.

Each round measures, on the same GGUF file with the same threads:

- ``raw``: llama-cpp-python in this process (``Llama.create_chat_completion``, streamed),
  one request at a time: the baseline every ratio is against;
- ``N streams``: N concurrent streaming clients against a ``modelport serve`` with
  ``parallel`` slots (extra clients wait in the model's queue);
- with ``--llama-server BIN``, the same clients against llama.cpp's own ``llama-server``
  (``-np parallel``, the same file, threads and context per slot), in the same rounds.

Every request is greedy (temperature 0) and asks for ``--tokens`` tokens of a long story;
a stream that stops short is counted (``short``). Per phase: aggregate tokens/s (all
tokens over the phase's wall time), per-stream tokens/s (each stream's tokens over its
own time), time to first token p50/p95. In each round, every stream count's server phases
come right after a raw run and their ratios are against it (the machine's speed drifts);
the servers take turns going first; the table shows medians over rounds.

    .venv/bin/python benchmarks/stream_load.py --streams 1,8,16,32 --rounds 3
    .venv/bin/python benchmarks/stream_load.py --streams 1,8 --llama-server build/bin/llama-server

``--mixed`` measures streams decoding while long prompts arrive instead,
``--conversations`` users continuing multi-turn chats (each turn resends the history):
time to first token of the first turns and of the later ones, and ``--shared`` eight
requests at once with one long system prompt.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from _server import ROOT, process, serving

try:  # the clients on uvloop take less of the CPU the servers need
    from uvloop import run
except ImportError:
    from asyncio import run  # type: ignore[assignment]

TOPICS = [
    "a dragon and a knight",
    "a lighthouse keeper",
    "a robot learning to paint",
    "two rival chefs",
    "a lost astronaut",
    "a clockmaker's daughter",
    "a city under the sea",
    "a talking fox",
]


def prompt(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Write a long story about {TOPICS[i % len(TOPICS)]}."}]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- raw llama-cpp-python ---------------------------------------------------------


def raw_phase(llm: Any, tokens: int) -> dict[str, float]:
    start = time.perf_counter()
    first, count = None, 0
    for chunk in llm.create_chat_completion(
        messages=prompt(0), max_tokens=tokens, temperature=0.0, stream=True
    ):
        if chunk["choices"][0]["delta"].get("content"):
            first = first or time.perf_counter()
            count += 1
    end = time.perf_counter()
    assert first is not None
    return {"tok_s": count / (end - start), "ttft": first - start, "tokens": count}


# --- server -----------------------------------------------------------------------


def request_bytes(host: str, i: int, tokens: int) -> bytes:
    body = json.dumps(
        {
            "model": "smollm2",
            "messages": prompt(i),
            "max_tokens": tokens,
            "temperature": 0,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def one_stream(host: str, port: int, request: bytes) -> dict[str, float]:
    """One streaming request on a raw connection: the client must not take the CPU the
    server needs (2 cores), so it reads whatever has arrived in one go, looks at frames
    only until the first content, and parses only the final usage frame."""
    reader, writer = await asyncio.open_connection(host, port)
    start = time.perf_counter()
    writer.write(request)
    first, tail = None, b""  # tail: the last 8 KiB received
    try:
        while True:
            data = await reader.read(1 << 16)
            if not data:
                break
            if first is None and any(
                b'"content":"' in line and b'"content":""' not in line
                for line in (tail[-4096:] + data).split(b"\n")
            ):
                first = time.perf_counter()
            tail = (tail + data)[-8192:]
            if b"data: [DONE]" in tail[-len(data) - 16 :]:
                break
    finally:
        writer.close()
    end = time.perf_counter()
    assert first is not None, "no content streamed"
    frames = tail.split(b"\n")
    usage = next(f for f in reversed(frames) if f.startswith(b"data: ") and b'"usage":{' in f)
    count = json.loads(usage[6:])["usage"]["completion_tokens"]
    return {"tok_s": count / (end - start), "ttft": first - start, "tokens": count}


async def server_phase(base_url: str, streams: int, tokens: int) -> dict[str, float]:
    host, port = base_url.removeprefix("http://").split(":")
    requests = [request_bytes(host, i, tokens) for i in range(streams)]
    start = time.perf_counter()
    results = await asyncio.gather(*(one_stream(host, int(port), r) for r in requests))
    wall = time.perf_counter() - start
    ttfts = [r["ttft"] for r in results]
    return {
        "aggregate": sum(r["tokens"] for r in results) / wall,
        "per_stream": statistics.median(r["tok_s"] for r in results),
        "ttft_p50": percentile(ttfts, 0.5),
        "ttft_p95": percentile(ttfts, 0.95),
        "short": sum(r["tokens"] < tokens for r in results),
    }


# --- mixed load: streams decoding while long prompts arrive ---------------------------

LONG = (
    "The lighthouse keeper kept a log of every ship that passed the point, the weather "
    "at each hour, the colour of the sea, and the birds that rested on the gallery rail. "
)


def chat_bytes(host: str, messages: list[dict[str, str]], tokens: int) -> bytes:
    body = json.dumps(
        {
            "model": "smollm2",
            "messages": messages,
            "max_tokens": tokens,
            "temperature": 0,
            "stream": True,
        }
    ).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def timed_stream(host: str, port: int, request: bytes) -> list[float]:
    """When each content frame arrived (seconds from the request)."""
    reader, writer = await asyncio.open_connection(host, port)
    start = time.perf_counter()
    writer.write(request)
    times: list[float] = []
    tail = b""
    try:
        while True:
            data = await reader.read(1 << 16)
            if not data:
                break
            now = time.perf_counter() - start
            frames = (tail + data).split(b"\n")
            tail = frames.pop()
            for frame in frames:
                if b'"content":"' in frame and b'"content":""' not in frame:
                    times.append(now)
            if b"data: [DONE]" in data:
                break
    finally:
        writer.close()
    return times


def long_text(words: int) -> str:
    """``words`` words of ``LONG``, repeated as needed."""
    return " ".join((LONG * (words // len(LONG.split()) + 1)).split()[:words])


async def mixed_phase(
    base_url: str, decoders: int, long_prompts: int, words: int, tokens: int, salt: str
) -> dict[str, float]:
    """``decoders`` streams of ``tokens`` tokens start together; one second in, and
    every second after, a long prompt (``words`` words) arrives. The running streams'
    gaps between tokens (p50, p99, max) and the long prompts' time to first token.
    ``salt`` starts every long prompt, so no server has it cached from an earlier
    round (each starts anew after the chat template's shared head)."""
    host, port = base_url.removeprefix("http://").split(":")
    text = long_text(words)

    async def late(i: int) -> list[float]:
        await asyncio.sleep(1.0 + i)
        ask = [{"role": "user", "content": f"Log {salt}-{i}. {text}\nSummarise the log."}]
        return await timed_stream(host, int(port), chat_bytes(host, ask, 16))

    running = [
        timed_stream(host, int(port), chat_bytes(host, prompt(i), tokens)) for i in range(decoders)
    ]
    results = await asyncio.gather(*running, *(late(i) for i in range(long_prompts)))
    gaps = [b - a for times in results[:decoders] for a, b in itertools.pairwise(times)]
    ttfts = [times[0] for times in results[decoders:] if times]
    return {
        "gap_p50": percentile(gaps, 0.5),
        "gap_p99": percentile(gaps, 0.99),
        "gap_max": max(gaps),
        "long_ttft_p50": percentile(ttfts, 0.5),
        "long_ttft_p95": percentile(ttfts, 0.95),
    }


def write_config(
    gguf: Path,
    parallel: int,
    threads: int,
    n_ctx: int,
    step_budget_ms: int | None = None,
    options: list[str] | None = None,
) -> Path:
    path = Path(tempfile.mkdtemp()) / "plugins.toml"
    budget = f"step_budget_ms = {step_budget_ms}\n" if step_budget_ms else ""
    budget += "".join(f"{line}\n" for line in options or [])
    path.write_text(
        '[server]\nlog_level = "warning"\n'
        f'[[models]]\nname = "smollm2"\nbackend = "gguf"\nsource = "{gguf}"\n'
        f'parallel = {parallel}\nmax_queue = 256\nload = "eager"\n'
        f"[models.options]\nn_ctx = {n_ctx}\nn_threads = {threads}\n{budget}"
    )
    return path


def take_turns(
    args: argparse.Namespace, phase: Callable[[str, str], Awaitable[dict[str, float]]]
) -> dict[str, list[dict[str, float]]]:
    """``phase(url, salt)`` on modelport and (with ``--llama-server``) llama-server, the
    same file, threads, slots and context (2,048 at least), taking turns in each round;
    ``salt`` is new in each round (nothing of it cached) and the same for both servers,
    so both get the same texts (a conversation's cost depends on its words: where a
    model's answer is tokenized otherwise when sent back, the history after that point
    is evaluated again, on both servers)."""
    from modelport.core.config import load_config
    from modelport.core.sources import cached_path

    config = load_config(ROOT / "plugins.toml")
    gguf = cached_path(config.models[0].source or "", config.data_path() / "models", ROOT)
    n_ctx = max(args.n_ctx, 2048)
    ours = write_config(gguf, args.parallel, args.threads, n_ctx, args.step_budget_ms, args.option)
    compare = (
        llama_server(args.llama_server, gguf, args.parallel, args.threads, n_ctx)
        if args.llama_server
        else contextlib.nullcontext(None)
    )
    results: dict[str, list[dict[str, float]]] = {"modelport": [], "llama-server": []}
    with serving(ours, args.base_url) as base_url, compare as other_url:
        servers = [("modelport", base_url)] + ([("llama-server", other_url)] if other_url else [])
        for _, url in servers:
            run(server_phase(url, 1, 8))  # warm up
        for round_ in range(args.rounds):
            for name, url in servers[:: 1 if round_ % 2 == 0 else -1]:
                results[name].append(run(phase(url, f"r{round_}")))
            print(f"round {round_ + 1} done", flush=True)
    return results


# a column of a server table: its header, the phase result's key, a scale, decimals
Column = tuple[str, str, float, int]


def server_table(
    results: dict[str, list[dict[str, float]]],
    columns: list[Column],
    by_round: Column | None = None,
) -> None:
    """One row per server: the median over rounds of each column; then, for one of
    them, every round's value."""
    print("| server | " + " | ".join(header for header, *_ in columns) + " |")
    print("| --- |" + " --- |" * len(columns))
    measured = {name: rounds for name, rounds in results.items() if rounds}
    for name, rounds in measured.items():
        cells = [
            f"{statistics.median(r[key] for r in rounds) * scale:.{digits}f}"
            for _, key, scale, digits in columns
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if by_round is not None:
        header, key, scale, digits = by_round
        for name, rounds in measured.items():
            values = ", ".join(f"{r[key] * scale:.{digits}f}" for r in rounds)
            print(f"{name} {header} by round: [{values}]")


def mixed(args: argparse.Namespace) -> None:
    """The mixed-load matrix: each round, modelport and llama-server take turns."""
    results = take_turns(
        args,
        lambda url, salt: mixed_phase(
            url, 4, args.long_prompts, args.long_words, args.tokens, salt
        ),
    )
    print(
        f"\nmixed load: 4 streams of {args.tokens} tokens, {args.long_prompts} prompts of "
        f"{args.long_words} words 1 s apart; {args.threads} threads, {args.rounds} rounds "
        "(medians; gaps between a running stream's tokens, TTFT of the long prompts)\n"
    )
    server_table(
        results,
        [
            ("gap p50 (ms)", "gap_p50", 1000, 0),
            ("gap p99 (ms)", "gap_p99", 1000, 0),
            ("gap max (ms)", "gap_max", 1000, 0),
            ("long TTFT p50 (s)", "long_ttft_p50", 1, 2),
            ("long TTFT p95 (s)", "long_ttft_p95", 1, 2),
        ],
    )


# --- a shared system prompt: many users, one long prefix ------------------------------


async def shared_phase(
    base_url: str, streams: int, words: int, tokens: int, salt: str
) -> dict[str, float]:
    """``streams`` requests at once with the same long system prompt (``words`` words,
    begun with ``salt`` so no server has it cached) and a question each: time to first
    token (p50, p95) and aggregate content frames per second."""
    host, port = base_url.removeprefix("http://").split(":")
    handbook = long_text(words)
    system = f"Handbook {salt}. Answer from this handbook only. {handbook}"
    asks = [
        [{"role": "system", "content": system},
         {"role": "user", "content": f"What does the handbook say about {TOPICS[i % 8]}?"}]
        for i in range(streams)
    ]  # fmt: skip
    start = time.perf_counter()
    results = await asyncio.gather(
        *(timed_stream(host, int(port), chat_bytes(host, ask, tokens)) for ask in asks)
    )
    wall = time.perf_counter() - start
    ttfts = [times[0] for times in results if times]
    return {
        "ttft_p50": percentile(ttfts, 0.5),
        "ttft_p95": percentile(ttfts, 0.95),
        "aggregate": sum(len(times) for times in results) / wall,
    }


def shared(args: argparse.Namespace) -> None:
    """The shared-prompt matrix: each round, modelport and llama-server take turns."""
    results = take_turns(
        args, lambda url, salt: shared_phase(url, 8, args.long_words, args.tokens, salt)
    )
    print(
        f"\nshared system prompt: 8 requests at once, a {args.long_words}-word system prompt, "
        f"{args.tokens} tokens each, {args.parallel} slots, {args.threads} threads, "
        f"{args.rounds} rounds (medians)\n"
    )
    p95 = ("TTFT p95 (ms)", "ttft_p95", 1000, 0)
    columns = [
        ("TTFT p50 (ms)", "ttft_p50", 1000, 0),
        p95,
        ("aggregate frames/s", "aggregate", 1, 1),
    ]
    server_table(results, columns, by_round=p95)


# --- conversations: users continuing multi-turn chats --------------------------------

FOLLOW_UPS = [
    "Tell me more about that.",
    "Give me an example.",
    "What would change in winter?",
    "Summarise it in two sentences.",
    "What should I remember most?",
]


async def chat_turn(
    host: str, port: int, messages: list[dict[str, str]], tokens: int
) -> tuple[float, str]:
    """One streamed turn: time to the first content, and the answer's text."""
    reader, writer = await asyncio.open_connection(host, port)
    start = time.perf_counter()
    writer.write(chat_bytes(host, messages, tokens))
    first, text, tail = None, "", b""
    try:
        while True:
            data = await reader.read(1 << 16)
            if not data:
                break
            frames = (tail + data).split(b"\n")
            tail = frames.pop()
            for frame in frames:
                if not frame.startswith(b"data: {"):
                    continue
                for choice in json.loads(frame[6:]).get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        first = first or time.perf_counter()
                        text += piece
            if b"data: [DONE]" in data:
                break
    finally:
        writer.close()
    assert first is not None, "no content streamed"
    return first - start, text


async def conversation_phase(
    base_url: str, users: int, turns: int, tokens: int, salt: str
) -> dict[str, float]:
    """``users`` conversations at once, each ``turns`` turns long: every turn sends the
    whole history (the answers as streamed) and a follow-up. TTFT of the first turns and
    of the later ones (p50, p95). ``salt`` makes each user's opening its own, so no
    server has it cached from an earlier round."""
    host, port = base_url.removeprefix("http://").split(":")

    async def user(i: int) -> list[float]:
        topic = TOPICS[i % len(TOPICS)]
        history = [{"role": "user", "content": f"Note {salt}-{i}. Tell me about {topic}."}]
        ttfts = []
        for turn in range(turns):
            ttft, answer = await chat_turn(host, int(port), history, tokens)
            ttfts.append(ttft)
            follow = FOLLOW_UPS[turn % len(FOLLOW_UPS)]
            history += [
                {"role": "assistant", "content": answer},
                {"role": "user", "content": follow},
            ]
        return ttfts

    results = await asyncio.gather(*(user(i) for i in range(users)))
    first = [r[0] for r in results]
    later = [t for r in results for t in r[1:]]
    return {
        "first_p50": percentile(first, 0.5),
        "first_p95": percentile(first, 0.95),
        "later_p50": percentile(later, 0.5),
        "later_p95": percentile(later, 0.95),
    }


def conversations(args: argparse.Namespace) -> None:
    """The conversation matrix: each round, modelport and llama-server take turns."""
    results = take_turns(
        args,
        lambda url, salt: conversation_phase(url, args.users, args.turns, args.tokens, salt),
    )
    print(
        f"\nconversations: {args.users} users at once, {args.turns} turns each, "
        f"{args.tokens} tokens an answer, {args.parallel} slots, {args.threads} threads, "
        f"{args.rounds} rounds (medians)\n"
    )
    columns = [
        ("turn 1 TTFT p50 (ms)", "first_p50", 1000, 0),
        ("p95", "first_p95", 1000, 0),
        ("later turns TTFT p50 (ms)", "later_p50", 1000, 0),
        ("p95", "later_p95", 1000, 0),
    ]
    server_table(results, columns, by_round=("later-turn TTFT p95 (ms)", "later_p95", 1000, 0))


@contextlib.contextmanager
def llama_server(binary: str, gguf: Path, parallel: int, threads: int, n_ctx: int) -> Iterator[str]:
    """llama.cpp's own server on the same file: ``parallel`` slots of ``n_ctx`` each."""
    command = [binary, "-m", str(gguf), "-np", str(parallel), "-c", str(n_ctx * parallel)]
    command += ["-t", str(threads), "-tb", str(threads), "--no-webui"]
    with process(command, "llama-server") as url:
        yield url


Phases = dict[int, list[dict[str, float]]]


def table(title: str, counts: list[int], phases: Phases) -> None:
    """Medians over rounds; each ratio is against the raw phase run just before it."""
    print(f"\n{title}\n")
    print(
        "| streams | aggregate tok/s | x raw | per-stream tok/s | x raw "
        "| TTFT p50 (ms) | TTFT p95 (ms) | short |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for n in counts:
        med = {k: statistics.median(p[k] for p in phases[n]) for k in phases[n][0]}
        print(
            f"| {n} | {med['aggregate']:.1f} | {med['x_aggregate']:.2f} "
            f"| {med['per_stream']:.1f} | {med['x_per_stream']:.2f} "
            f"| {med['ttft_p50'] * 1000:.0f} | {med['ttft_p95'] * 1000:.0f} "
            f"| {sum(p['short'] for p in phases[n])} |"
        )
    rounds = {n: [round(p["x_aggregate"], 2) for p in phases[n]] for n in counts}
    print("aggregate x raw by round:", rounds)
    p95 = {n: [round(p["ttft_p95"] * 1000) for p in phases[n]] for n in counts}
    print("TTFT p95 (ms) by round:", p95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", default="1,8,16,32")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=8, help="the server's slots")
    parser.add_argument("--n-ctx", type=int, default=1024, help="context per slot")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base-url", help="a running server instead of a fresh one")
    parser.add_argument("--llama-server", help="llama.cpp's llama-server binary, to compare")
    parser.add_argument(
        "--mixed",
        action="store_true",
        help="mixed load instead: 4 streams decoding while long prompts arrive (n-ctx 2048+)",
    )
    parser.add_argument(
        "--conversations",
        action="store_true",
        help="conversations instead: users continuing multi-turn chats (n-ctx 2048+)",
    )
    parser.add_argument(
        "--shared",
        action="store_true",
        help="a shared system prompt instead: 8 requests with one long prefix (--long-words)",
    )
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--long-prompts", type=int, default=3)
    parser.add_argument("--long-words", type=int, default=1100, help="about 1,500 tokens")
    parser.add_argument("--step-budget-ms", type=int, help="modelport's step budget")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        help='another [models.options] line for modelport, e.g. cache_type_v="f16"',
    )
    args = parser.parse_args()
    if args.mixed:
        mixed(args)
        return
    if args.conversations:
        conversations(args)
        return
    if args.shared:
        shared(args)
        return
    counts = [int(s) for s in args.streams.split(",")]

    import llama_cpp

    from modelport.core.config import load_config
    from modelport.core.sources import cached_path

    config = load_config(ROOT / "plugins.toml")
    gguf = cached_path(config.models[0].source or "", config.data_path() / "models", ROOT)
    llm = llama_cpp.Llama(
        model_path=str(gguf), n_ctx=args.n_ctx, n_threads=args.threads, verbose=False
    )
    raw: list[dict[str, float]] = []
    phases: Phases = {n: [] for n in counts}
    other: Phases = {n: [] for n in counts}
    server_config = write_config(gguf, args.parallel, args.threads, args.n_ctx)
    compare = (
        llama_server(args.llama_server, gguf, args.parallel, args.threads, args.n_ctx)
        if args.llama_server
        else contextlib.nullcontext(None)
    )
    with serving(server_config, args.base_url) as base_url, compare as other_url:
        servers = [(base_url, phases), (other_url, other)] if other_url else [(base_url, phases)]
        for url, _ in servers:
            run(server_phase(url, 1, 8))  # warm up
        raw_phase(llm, 8)
        for round_ in range(args.rounds):
            for n in counts:
                # the machine's speed drifts: each phase is compared with a raw run just
                # before it, and the servers take turns going first
                raw.append(raw_phase(llm, args.tokens))
                for url, results in servers[:: 1 if round_ % 2 == 0 else -1]:
                    result = run(server_phase(url, n, args.tokens))
                    baseline = raw[-1]["tok_s"]
                    result["x_aggregate"] = result["aggregate"] / baseline
                    result["x_per_stream"] = result["per_stream"] / baseline
                    results[n].append(result)
            print(f"round {round_ + 1}: raw {raw[-1]['tok_s']:.1f} tok/s", flush=True)

    base = statistics.median(r["tok_s"] for r in raw)
    base_ttft = statistics.median(r["ttft"] for r in raw)
    print(
        f"\nraw llama-cpp-python: {base:.1f} tok/s, TTFT {base_ttft * 1000:.0f} ms "
        f"({os.cpu_count()} CPUs, {args.threads} threads, {args.tokens} tokens, "
        f"parallel={args.parallel})"
    )
    table("modelport", counts, phases)
    if other_url:
        table("llama-server", counts, other)


if __name__ == "__main__":
    main()
