"""Prompt-lookup speculative decoding: one stream, modelport with it on and off, llama-server.

Each round runs every workload once on each server, the servers taking turns going first:

- ``on``: ``modelport serve`` with ``speculative = "prompt-lookup"``;
- ``off``: the same as it ships (``speculative = "off"``);
- with ``--llama-server BIN``: llama.cpp's server as it ships (one slot, the same file,
  threads and context).

Workloads: three greedy ones that quote their context (rewrite a piece of code with a
change, add docstrings to it, quote paragraphs of a document) and one that does not (a
story sampled at temperature 0.8 with a seed). The measure is decode speed: completion
tokens after the first over the time after the first (the prompt's evaluation is the same
with and without drafts). Ratios are per round, against ``off`` and against llama-server;
the table shows medians, and
whether ``on`` and ``off`` wrote the same text (they must: greedy and seeded output does
not change).

    .venv/bin/python benchmarks/speculative.py --rounds 3 \\
        --llama-server /path/to/llama.cpp/build/bin/llama-server
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time

import httpx
from stream_load import llama_server, write_config

from _server import ROOT, serving

CODE = '''class LRUCache:
    """A mapping that keeps at most `capacity` entries, dropping the least recently used."""

    def __init__(self, capacity):
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self.entries = {}
        self.order = []
        self.hits = 0
        self.misses = 0

    def get(self, key, default=None):
        if key not in self.entries:
            self.misses += 1
            return default
        self.hits += 1
        self.order.remove(key)
        self.order.append(key)
        return self.entries[key]

    def put(self, key, value):
        if key in self.entries:
            self.order.remove(key)
        elif len(self.entries) >= self.capacity:
            oldest = self.order.pop(0)
            del self.entries[oldest]
        self.entries[key] = value
        self.order.append(key)

    def clear(self):
        self.entries.clear()
        self.order.clear()
        self.hits = 0
        self.misses = 0

    def stats(self):
        total = self.hits + self.misses
        rate = self.hits / total if total else 0.0
        return {"hits": self.hits, "misses": self.misses, "hit_rate": rate}
'''

DOCUMENT = """The harbour of Port Ellery was built in 1821 to shelter the herring fleet from the \
autumn gales. Its two granite piers, the north pier and the east pier, enclose a basin of \
about four acres that dries at low tide. A lighthouse stands at the end of the east pier; \
its lamp was first lit in 1834 and has been automatic since 1962.

The herring trade peaked in the 1880s, when more than two hundred boats worked from the \
harbour and the quays were lined with curing yards. The shoals moved north after 1900, and \
by 1930 fewer than thirty boats remained. Today the harbour holds about forty small boats, \
most of them used for crab and lobster fishing or for taking visitors along the coast.

The harbour master's office, next to the slipway, keeps the tide tables and a register of \
every boat in the basin. Visiting yachts may stay for up to seven nights and must report \
to the office on arrival. Mooring fees are charged by the length of the boat, and a reduced \
rate applies between November and March.

The old net loft on the north quay has been restored as a museum. It shows the tools of \
the curing yards, photographs of the fleet at its height, and a model of the harbour as it \
was in 1880. The museum is open every day from April to October and on weekends in winter.
"""

WORKLOADS = {
    "rewrite code": (
        "Rename the class LRUCache to BoundedCache in this Python code and return the "
        f"whole code:\n\n```python\n{CODE}```"
    ),
    "add docstrings": (
        f"Add a docstring to every method of this Python class and return the whole class:"
        f"\n\n```python\n{CODE}```"
    ),
    "quote a document": (
        f"{DOCUMENT}\nQuote the first three paragraphs of the text above exactly, word for word."
    ),
    # sampled (seeded): a small model's greedy story soon repeats itself
    "story, sampled (no overlap)": "Write a long story about a lighthouse keeper and a storm.",
}
SAMPLED = {"temperature": 0.8, "seed": 7}


def stream(
    base_url: str, content: str, tokens: int, sampling: dict[str, float] | None = None
) -> dict[str, float | str]:
    """One streaming chat (greedy unless ``sampling`` says otherwise): decode tokens/s
    after the first token, and the text."""
    body = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": content}],
        "max_tokens": tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        **(sampling or {}),
    }
    text, first, count = "", None, 0
    with httpx.stream("POST", f"{base_url}/v1/chat/completions", json=body, timeout=600) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                count = chunk["usage"]["completion_tokens"]
            for choice in chunk.get("choices") or []:
                piece = choice["delta"].get("content")
                if piece:
                    first = first or time.perf_counter()
                    text += piece
    end = time.perf_counter()
    assert first is not None and count > 1, "no content streamed"
    return {"decode": (count - 1) / (end - first), "tokens": count, "text": text}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=400)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--llama-server", help="llama.cpp's llama-server binary, to compare")
    args = parser.parse_args()

    from modelport.core.config import load_config
    from modelport.core.sources import cached_path

    config = load_config(ROOT / "plugins.toml")
    gguf = cached_path(config.models[0].source or "", config.data_path() / "models", ROOT)
    on = write_config(gguf, 1, args.threads, args.n_ctx, options=['speculative = "prompt-lookup"'])
    off = write_config(gguf, 1, args.threads, args.n_ctx)
    peer = (
        llama_server(args.llama_server, gguf, 1, args.threads, args.n_ctx)
        if args.llama_server
        else contextlib.nullcontext(None)
    )
    results: dict[str, dict[str, list[dict[str, float | str]]]] = {}
    with serving(on) as on_url, serving(off) as off_url, peer as peer_url:
        servers = [("on", on_url), ("off", off_url)]
        servers += [("llama-server", peer_url)] if peer_url else []
        for _, url in servers:
            stream(url, "Say hello.", 8)  # warm up
        for round_ in range(args.rounds):
            order = servers[round_ % len(servers) :] + servers[: round_ % len(servers)]
            for workload, content in WORKLOADS.items():
                for name, url in order:
                    sampling = SAMPLED if "sampled" in workload else None
                    result = stream(url, content, args.tokens, sampling)
                    results.setdefault(workload, {}).setdefault(name, []).append(result)
            print(f"round {round_ + 1} done", flush=True)

    print(
        f"\none stream, greedy, {args.tokens} tokens at most, {args.threads} threads, "
        f"{args.rounds} rounds (medians of per-round figures)\n"
    )
    peer_cols = " | llama-server tok/s | on x llama-server" if args.llama_server else ""
    print(f"| workload | tokens | on tok/s | off tok/s | on x off{peer_cols} | same text |")
    print(
        "| --- | --- | --- | --- | --- |" + (" --- | --- |" if args.llama_server else "") + " --- |"
    )
    for workload, by in results.items():

        def med(name: str, by: dict = by) -> float:
            return statistics.median(float(r["decode"]) for r in by[name])

        def ratio(peer: str, by: dict = by) -> float:
            return statistics.median(
                float(a["decode"]) / float(b["decode"])
                for a, b in zip(by["on"], by[peer], strict=True)
            )

        same = all(a["text"] == b["text"] for a, b in zip(by["on"], by["off"], strict=True))
        row = f"| {workload} | {int(by['on'][0]['tokens'])} | {med('on'):.1f} | {med('off'):.1f}"
        row += f" | {ratio('off'):.2f}"
        if args.llama_server:
            row += f" | {med('llama-server'):.1f} | {ratio('llama-server'):.2f}"
        print(f"{row} | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
