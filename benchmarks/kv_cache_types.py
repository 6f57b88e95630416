"""What the KV cache's types cost llama.cpp itself: one llama-cpp-python context per
pair of K and V types (flash attention, 2 threads, the default model file), evaluating a
~1,500-token prompt in one go, then 32 greedy tokens at that length. Pairs alternate
within each round. This is the cost behind the mixed-load benchmark's long prompts: the
gguf backend's default V cache is q8_0 (for numbers that do not depend on the batch).

    .venv/bin/python benchmarks/kv_cache_types.py --rounds 2
"""

from __future__ import annotations

import argparse
import statistics
import time

from _server import ROOT

PAIRS = [("f16", "f16"), ("f16", "q8_0"), ("q8_0", "q8_0")]
TEXT = (
    "The lighthouse keeper kept a log of every ship that passed the point, the weather "
    "at each hour, the colour of the sea, and the birds that rested on the gallery rail. "
) * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=1500, help="prompt length")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import llama_cpp

    from modelport.core.config import load_config
    from modelport.core.sources import cached_path

    config = load_config(ROOT / "plugins.toml")
    gguf = cached_path(config.models[0].source or "", config.data_path() / "models", ROOT)
    types = {"f16": llama_cpp.GGML_TYPE_F16, "q8_0": llama_cpp.GGML_TYPE_Q8_0}
    results: dict[tuple[str, str], list[tuple[float, float]]] = {pair: [] for pair in PAIRS}
    for _ in range(args.rounds):
        for k, v in PAIRS:
            llm = llama_cpp.Llama(
                str(gguf),
                n_ctx=args.tokens + 512,
                n_batch=512,
                n_ubatch=512,
                n_threads=args.threads,
                n_threads_batch=args.threads,
                flash_attn=True,
                type_k=types[k],
                type_v=types[v],
                verbose=False,
            )
            prompt = llm.tokenize(TEXT.encode())[: args.tokens]
            start = time.perf_counter()
            llm.eval(prompt)
            prefill = time.perf_counter() - start
            start = time.perf_counter()
            for _ in range(32):
                llm.eval([llm.sample(temp=0)])
            results[(k, v)].append((prefill, (time.perf_counter() - start) / 32))
            del llm
    print(f"\n{len(prompt)}-token prompt, {args.threads} threads, {args.rounds} rounds\n")
    print("| K / V cache | prompt (s), by round | median | decode at that length (ms/token) |")
    print("| --- | --- | --- | --- |")
    for (k, v), runs in results.items():
        print(
            f"| {k} / {v} | {', '.join(f'{p:.2f}' for p, _ in runs)} "
            f"| {statistics.median(p for p, _ in runs):.2f} "
            f"| {statistics.median(d for _, d in runs) * 1000:.1f} |"
        )


if __name__ == "__main__":
    main()
