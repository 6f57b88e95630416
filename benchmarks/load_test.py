"""Load test: concurrent clients, mixed chat streaming / completions / embeddings.

    python benchmarks/load_test.py                      # 64 clients, 60 s, a fresh server
    python benchmarks/load_test.py --clients 64 --seconds 30 --base-url http://127.0.0.1:8000

Each client loops for ``--seconds`` over three kinds of request (a streamed chat, a
completion, an embedding), starting at a different kind. It reports, per kind, how many
requests got each status; every error other than the documented overload answers (429 or
503 *with* Retry-After, in the OpenAI envelope) counts as a failure; every accepted stream
must end with ``data: [DONE]`` and no error frame. A fresh server's peak RSS (VmHWM) is read
from /proc before it is stopped. Exit status 1 when anything failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import ROOT, sentences, serving

KINDS = ("chat_stream", "completion", "embedding")
OVERLOAD = (429, 503)


@dataclass
class Tally:
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    streams_accepted: int = 0
    streams_completed: int = 0


def _request(kind: str, i: int, chat_model: str, embed_model: str) -> dict[str, object]:
    text = sentences(i % 50 + 1)[-1]
    if kind == "chat_stream":
        return {
            "model": chat_model,
            "stream": True,
            "max_tokens": 16,
            "messages": [{"role": "user", "content": text}],
        }
    if kind == "completion":
        return {"model": chat_model, "prompt": text, "max_tokens": 16}
    return {"model": embed_model, "input": [text, text.upper()]}


PATHS = {
    "chat_stream": "/v1/chat/completions",
    "completion": "/v1/completions",
    "embedding": "/v1/embeddings",
}


def _check_overload(resp: httpx.Response, body: bytes, tally: Tally, kind: str) -> None:
    try:
        error = json.loads(body)["error"]
        ok = isinstance(error["code"], str) and "retry-after" in resp.headers
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        tally.failures.append(f"{kind}: {resp.status_code} without Retry-After/envelope: {body!r}")


async def _one(http: httpx.AsyncClient, kind: str, body: dict[str, object], tally: Tally) -> None:
    started = time.monotonic()
    async with http.stream("POST", PATHS[kind], json=body) as resp:
        data = await resp.aread()
    tally.statuses[(kind, resp.status_code)] += 1
    if resp.status_code in OVERLOAD:
        _check_overload(resp, data, tally, kind)
        await asyncio.sleep(float(resp.headers.get("retry-after", "1")))
        return
    if resp.status_code != 200:
        tally.failures.append(f"{kind}: {resp.status_code} {data[:300]!r}")
        return
    tally.latencies[kind].append(time.monotonic() - started)
    if kind == "chat_stream":
        tally.streams_accepted += 1
        text = data.decode()
        if text.rstrip().endswith("data: [DONE]") and '"error"' not in text:
            tally.streams_completed += 1
        else:
            tally.failures.append(f"stream did not complete: ...{text[-300:]!r}")


async def _client(
    base: str, n: int, until: float, tally: Tally, chat_model: str, embed_model: str
) -> None:
    timeout = httpx.Timeout(300.0, connect=10.0)
    async with httpx.AsyncClient(base_url=base, timeout=timeout) as http:
        i = n
        while time.monotonic() < until:
            kind = KINDS[i % len(KINDS)]
            try:
                await _one(http, kind, _request(kind, i, chat_model, embed_model), tally)
            except httpx.HTTPError as exc:
                tally.failures.append(f"{kind}: {type(exc).__name__}: {exc}")
            i += 1


def _peak_rss_mib(pid: int | None) -> float | None:
    if pid is None:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def _report(tally: Tally, args: argparse.Namespace, wall: float, rss: float | None) -> None:
    print(f"{args.clients} clients, {args.seconds:.0f} s (wall {wall:.1f} s)")
    for kind in KINDS:
        counts = {s: c for (k, s), c in sorted(tally.statuses.items()) if k == kind}
        lat = sorted(tally.latencies[kind])
        p50 = statistics.median(lat) if lat else float("nan")
        p95 = lat[int(0.95 * (len(lat) - 1))] if lat else float("nan")
        print(f"  {kind:12} statuses {counts}  latency p50 {p50:.2f} s  p95 {p95:.2f} s")
    total = sum(tally.statuses.values())
    print(
        f"  requests {total}; streams accepted {tally.streams_accepted}, "
        f"completed {tally.streams_completed}"
    )
    print(f"  failures {len(tally.failures)}")
    for failure in tally.failures[:10]:
        print("    " + failure)
    if rss is not None:
        print(f"  server peak RSS {rss:.0f} MiB")


async def _run(args: argparse.Namespace, base: str) -> Tally:
    tally = Tally()
    until = time.monotonic() + args.seconds
    await asyncio.gather(
        *(
            _client(base, n, until, tally, args.chat_model, args.embed_model)
            for n in range(args.clients)
        )
    )
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--config", type=Path, default=ROOT / "plugins.toml")
    parser.add_argument("--base-url", help="an already running server (no RSS then)")
    parser.add_argument("--chat-model", default="smollm2")
    parser.add_argument("--embed-model", default="all-minilm")
    args = parser.parse_args()
    with serving(args.config, args.base_url) as base:
        pid = _server_pid(base) if not args.base_url else None
        started = time.monotonic()
        tally = asyncio.run(_run(args, base))
        wall = time.monotonic() - started
        rss = _peak_rss_mib(pid)
        alive = httpx.get(base + "/health", timeout=10).status_code == 200
    _report(tally, args, wall, rss)
    print(f"  server healthy after the run: {alive}")
    return 0 if not tally.failures and alive else 1


def _server_pid(base: str) -> int | None:
    """The pid of the server listening on ``base``'s port (from /proc/net/tcp)."""
    port = int(base.rsplit(":", 1)[1])
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if int(parts[1].split(":")[1], 16) == port and parts[3] == "0A":  # LISTEN
            inodes.add(parts[9])
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                link = str(fd.readlink())
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(proc.name)
        except OSError:
            continue
    return None


if __name__ == "__main__":
    sys.exit(main())
