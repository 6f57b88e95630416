"""What Ray Serve costs: one model with one replica behind ``modelport serve --ray``
against the same plugins.toml on plain ``modelport serve``, in the same run.

Both servers run the same GGUF with the same slots and threads; the Ray one starts its
own local cluster (one ingress replica, one model replica). Each round runs every stream
count against both servers, taking turns going first; every request is greedy and asks
for ``--tokens`` tokens (the clients of ``stream_load.py``). The table shows medians over
rounds: aggregate tokens/s, Ray's ratio to plain, time to first token p50/p95 and what
Ray adds to it. Goals: at most 10 % less throughput, at most 20 ms more TTFT.

    .venv/bin/python benchmarks/ray_overhead.py --streams 1,8 --rounds 5
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
from pathlib import Path

from stream_load import run, server_phase, write_config

from _server import ROOT, process, serving


def ray_config(
    plain: Path, stream_interval: str | None, proxy: str = "haproxy", optimized: bool = True
) -> Path:
    """The plain config on Ray, on a local cluster of this machine's CPUs: one ingress
    replica, one model replica (reserving one CPU for Ray's scheduling; it runs as many
    threads as the plain one); ``stream_interval`` as given (else the default), the
    ``proxy`` and throughput-optimized mode as given."""
    path = plain.with_name("plugins-ray.toml")
    ray = "[server.ray]\ningress_replicas = 1\ningress_cpus = 0.1\n"
    ray += f'proxy = "{proxy}"\nthroughput_optimized = {str(optimized).lower()}\n'
    if stream_interval is not None:
        ray += f'stream_interval = "{stream_interval}"\n'
    text = plain.read_text().replace("[[models]]", ray + "[[models]]", 1)
    text += "[models.deploy.ray_actor_options]\nnum_cpus = 1\n"
    path.write_text(text)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", default="1,8")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=8, help="the model's slots")
    parser.add_argument("--n-ctx", type=int, default=1024, help="context per slot")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--stream-interval", help='[server.ray] stream_interval ("0": every event alone)'
    )
    parser.add_argument(
        "--proxy", default="haproxy", choices=["haproxy", "ray"], help="[server.ray] proxy"
    )
    parser.add_argument(
        "--no-throughput-optimized",
        action="store_true",
        help="[server.ray] throughput_optimized = false",
    )
    args = parser.parse_args()
    counts = [int(s) for s in args.streams.split(",")]

    from modelport.core.config import load_config
    from modelport.core.sources import cached_path

    config = load_config(ROOT / "plugins.toml")
    gguf = cached_path(config.models[0].source or "", config.data_path() / "models", ROOT)
    plain = write_config(gguf, args.parallel, args.threads, args.n_ctx)
    on_ray = ray_config(plain, args.stream_interval, args.proxy, not args.no_throughput_optimized)
    command = [sys.executable, "-m", "modelport.adapters.cli", "serve", "--config", str(on_ray)]
    env = {"RAY_USAGE_STATS_ENABLED": "0"}
    os.environ.update(env)
    results: dict[str, dict[int, list[dict[str, float]]]] = {
        "plain": {n: [] for n in counts},
        "ray": {n: [] for n in counts},
    }
    with contextlib.ExitStack() as stack:
        urls = {
            "plain": stack.enter_context(serving(plain)),
            "ray": stack.enter_context(process([*command, "--ray"], "modelport-ray", 600)),
        }
        for url in urls.values():
            run(server_phase(url, 1, 8))  # warm up
        for round_ in range(args.rounds):
            order = ["plain", "ray"] if round_ % 2 == 0 else ["ray", "plain"]
            for n in counts:
                for name in order:
                    results[name][n].append(run(server_phase(urls[name], n, args.tokens)))
            print(f"round {round_ + 1} done", flush=True)

    print(
        f"\n{os.cpu_count()} CPUs, {args.threads} threads, {args.tokens} tokens, "
        f"parallel={args.parallel}, stream_interval={args.stream_interval or 'default'}, "
        f"proxy={args.proxy}, throughput_optimized={not args.no_throughput_optimized}, "
        f"{args.rounds} rounds (medians)\n"
    )
    print(
        "| streams | plain tok/s | Ray tok/s | Ray x plain | plain TTFT p50 / p95 (ms) "
        "| Ray TTFT p50 / p95 (ms) | Ray adds p50 / p95 (ms) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for n in counts:
        med = {
            name: {
                k: statistics.median(p[k] for p in results[name][n]) for k in results[name][n][0]
            }
            for name in results
        }
        p, r = med["plain"], med["ray"]
        print(
            f"| {n} | {p['aggregate']:.1f} | {r['aggregate']:.1f} "
            f"| {r['aggregate'] / p['aggregate']:.2f} "
            f"| {p['ttft_p50'] * 1000:.0f} / {p['ttft_p95'] * 1000:.0f} "
            f"| {r['ttft_p50'] * 1000:.0f} / {r['ttft_p95'] * 1000:.0f} "
            f"| {(r['ttft_p50'] - p['ttft_p50']) * 1000:+.0f} "
            f"/ {(r['ttft_p95'] - p['ttft_p95']) * 1000:+.0f} |"
        )
    by_round = {
        n: [
            round(r["aggregate"] / p["aggregate"], 2)
            for p, r in zip(*(results[k][n] for k in results), strict=True)
        ]
        for n in counts
    }
    print("Ray x plain by round:", by_round)
    ttfts = {
        name: {n: [round(p["ttft_p95"] * 1000) for p in results[name][n]] for n in counts}
        for name in results
    }
    print("TTFT p95 (ms) by round:", ttfts)


if __name__ == "__main__":
    main()
