"""Token generation on llama.cpp's low-level API (through llama-cpp-python's bindings).

The high-level ``Llama.generate`` hides what an OpenAI server needs: the logits of each
step (for ``logprobs``), a sampler chain per request (``logit_bias``, grammars, seeds).
This engine owns the decode loop: prompt evaluation with prefix reuse from the previous
request, then one ``llama_decode`` per generated token, sampling with llama.cpp's own
sampler chain.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import msgspec
import numpy as np

from modelport.core import Sampling

__all__ = ["Engine", "Step", "logprob_step"]


class Step(msgspec.Struct, frozen=True):
    """One sampled token, with its log-probability and the top alternatives when asked."""

    token: int
    logprob: float | None = None
    top: tuple[tuple[int, float], ...] = ()


def logprob_step(logits_ptr: Any, n_vocab: int, token: int, top: int) -> Step:
    """``token`` with its log-probability (a log-softmax over the raw logits) and the
    ``top`` most likely tokens."""
    logits = np.ctypeslib.as_array(logits_ptr, shape=(n_vocab,)).astype(np.float64)
    peak = logits.max()
    logsum = peak + np.log(np.exp(logits - peak).sum())
    best: tuple[tuple[int, float], ...] = ()
    if top:
        idx = np.argpartition(-logits, top)[:top]
        idx = idx[np.argsort(-logits[idx])]
        best = tuple((int(i), float(logits[i] - logsum)) for i in idx)
    return Step(token=token, logprob=float(logits[token] - logsum), top=best)


class Engine:
    """Generation for one sequence on a loaded ``llama_cpp.Llama`` (not thread-safe)."""

    def __init__(self, llm: Any, internals: Any):
        self.llm = llm
        self._internals = internals
        self.ctx = llm._ctx
        self.n_vocab: int = llm.n_vocab()
        self.n_batch: int = llm.n_batch
        self.batch = internals.LlamaBatch(n_tokens=self.n_batch, embd=0, n_seq_max=1)
        self.cached: list[int] = []

    def sampler(self, s: Sampling, grammar: Any = None) -> Any:
        """llama.cpp's sampler chain for one request's parameters."""
        chain = self._internals.LlamaSampler()
        if s.logit_bias:
            chain.add_logit_bias(self.n_vocab, dict(s.logit_bias))
        penalties = (s.repeat_penalty or 1.0, s.frequency_penalty or 0.0, s.presence_penalty or 0.0)
        if penalties != (1.0, 0.0, 0.0):
            chain.add_penalties(self.n_vocab, 64, *penalties)
        if grammar is not None:
            chain.add_grammar(self.llm._model, grammar)
        if not s.temperature:
            chain.add_greedy()
            return chain
        if s.top_k:
            chain.add_top_k(s.top_k)
        if s.top_p is not None and s.top_p < 1.0:
            chain.add_top_p(s.top_p, 1)
        if s.min_p:
            chain.add_min_p(s.min_p, 1)
        chain.add_temp(s.temperature)
        chain.add_dist(s.seed if s.seed is not None else 0xFFFFFFFF)
        return chain

    def _decode(self, tokens: Sequence[int], n_past: int) -> None:
        self.batch.set_batch(batch=tokens, n_past=n_past, logits_all=False)
        self.ctx.decode(self.batch)

    def prefill(self, tokens: Sequence[int], cancelled: Any = None) -> bool:
        """Evaluate the prompt, reusing the KV cache of the longest common prefix.

        The last prompt token is always decoded on its own: its logits then come from the
        same kernels whether or not a prefix was reused, so a seeded request samples the
        same tokens on a warm cache as on a cold one.
        """
        keep = 0
        limit = min(len(self.cached), len(tokens) - 1)
        while keep < limit and self.cached[keep] == tokens[keep]:
            keep += 1
        if not self.ctx.kv_cache_seq_rm(-1, keep, -1):
            self.ctx.kv_cache_clear()
            keep = 0
        self.cached = list(tokens[:keep])
        for start in range(keep, len(tokens) - 1, self.n_batch):
            if cancelled is not None and cancelled.is_set():
                return False
            chunk = tokens[start : min(start + self.n_batch, len(tokens) - 1)]
            self._decode(chunk, start)
            self.cached.extend(chunk)
        self._decode(tokens[-1:], len(tokens) - 1)
        self.cached.append(tokens[-1])
        return True

    def _logprobs(self, token: int, top: int) -> Step:
        return logprob_step(self.ctx.get_logits_ith(-1), self.n_vocab, token, top)

    def generate(
        self,
        tokens: Sequence[int],
        sampler: Any,
        *,
        logprobs: int | None = None,
        cancelled: Any = None,
    ) -> Iterator[Step]:
        """Sample tokens until the caller stops iterating; the prompt must fit the context.
        A set ``cancelled`` event stops prompt evaluation between chunks."""
        if not self.prefill(tokens, cancelled):
            return
        while True:
            token = int(sampler.sample(self.ctx, -1))
            yield self._logprobs(token, logprobs) if logprobs is not None else Step(token)
            self._decode([token], len(self.cached))
            self.cached.append(token)
