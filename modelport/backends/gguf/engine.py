"""Sampling on llama.cpp's low-level API (through llama-cpp-python's bindings).

The high-level ``Llama.generate`` hides what an OpenAI server needs: the logits of each
step (for ``logprobs``) and a sampler chain per request (``logit_bias``, grammars, seeds).
The decode loop itself is the batch scheduler's (``batched.py``).
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np

from modelport.plugin import Sampling

from . import _llama

__all__ = ["Greedy", "Step", "build_sampler", "logprob_step"]


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


class Greedy:
    """The most likely token, read straight from the logits: what llama.cpp's greedy
    sampler picks (the first of equal maxima), in a tenth of its time (it first copies
    the whole vocabulary into candidates)."""

    def __init__(self, n_vocab: int):
        self.n_vocab = n_vocab

    def sample(self, ctx: Any, row: int) -> int:
        logits = np.ctypeslib.as_array(ctx.get_logits_ith(row), shape=(self.n_vocab,))
        return int(logits.argmax())

    def close(self) -> None:
        pass


def build_sampler(llm: Any, internals: Any, s: Sampling, grammar: Any = None) -> Any:
    """llama.cpp's sampler chain for one request's parameters (``Greedy`` when nothing
    but the logits decides)."""
    n_vocab = llm.n_vocab()
    penalties = (s.repeat_penalty or 1.0, s.frequency_penalty or 0.0, s.presence_penalty or 0.0)
    if not s.temperature and not s.logit_bias and penalties == (1.0, 0.0, 0.0) and grammar is None:
        return Greedy(n_vocab)
    chain = internals.LlamaSampler()
    if s.logit_bias:
        chain.add_logit_bias(n_vocab, dict(s.logit_bias))
    if penalties != (1.0, 0.0, 0.0):
        chain.add_penalties(n_vocab, 64, *penalties)
    if grammar is not None:
        chain.add_grammar(_llama.model_handle(llm), grammar)
    if not s.temperature:
        chain.add_greedy()
        return chain
    if s.top_k:
        chain.add_top_k(s.top_k)
    if s.typical_p is not None and s.typical_p < 1.0:
        chain.add_typical(s.typical_p, 1)
    if s.top_p is not None and s.top_p < 1.0:
        chain.add_top_p(s.top_p, 1)
    if s.min_p:
        chain.add_min_p(s.min_p, 1)
    chain.add_temp(s.temperature)
    chain.add_dist(s.seed if s.seed is not None else 0xFFFFFFFF)
    return chain
