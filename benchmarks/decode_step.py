"""llama.cpp alone: how long one decode step takes for N sequences of one token each.

The ceiling for the batch scheduler's aggregate throughput: the same context settings
(one KV stream per sequence, flash attention, f16 K and q8_0 V cache) and threads, no
server, no sampling.

    .venv/bin/python benchmarks/decode_step.py --rows 1,4,8,16
"""

from __future__ import annotations

import argparse
import time

import llama_cpp

from _server import ROOT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="1,4,8,16")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()

    from modelport.core.config import load_config
    from modelport.core.sources import cached_path

    config = load_config(ROOT / "plugins.toml")
    gguf = cached_path(config.models[0].source or "", config.data_path() / "models", ROOT)
    llm = llama_cpp.Llama(model_path=str(gguf), n_ctx=256, n_threads=args.threads, verbose=False)
    prompt = llm.tokenize(b"Write a long story about a dragon and a knight.")
    internals = llama_cpp._internals
    print("| rows | step (ms) | tokens/s |\n| --- | --- | --- |")
    for rows in (int(r) for r in args.rows.split(",")):
        params = type(llm.context_params).from_buffer_copy(llm.context_params)
        params.n_ctx, params.n_seq_max = 512 * rows, rows
        params.n_batch = params.n_ubatch = 512
        params.n_threads = params.n_threads_batch = args.threads
        params.kv_unified, params.flash_attn_type = False, 1
        params.type_k, params.type_v = llama_cpp.GGML_TYPE_F16, llama_cpp.GGML_TYPE_Q8_0
        ctx = internals.LlamaContext(model=llm._model, params=params, verbose=False)
        batch = internals.LlamaBatch(n_tokens=512, embd=0, n_seq_max=1)
        b, n = batch.batch, 0
        for seq in range(rows):  # every sequence starts with the prompt
            for pos, token in enumerate(prompt):
                b.token[n], b.pos[n], b.seq_id[n][0], b.n_seq_id[n] = token, pos, seq, 1
                b.logits[n] = False
                n += 1
        b.n_tokens = n
        ctx.decode(batch)
        start = time.perf_counter()
        for step in range(args.steps):
            for seq in range(rows):
                b.token[seq], b.pos[seq] = prompt[step % len(prompt)], len(prompt) + step
                b.seq_id[seq][0], b.n_seq_id[seq], b.logits[seq] = seq, 1, True
            b.n_tokens = rows
            ctx.decode(batch)
        step_s = (time.perf_counter() - start) / args.steps
        print(f"| {rows} | {step_s * 1000:.1f} | {rows / step_s:.0f} |")
        ctx.close()
        batch.close()


if __name__ == "__main__":
    main()
