"""Continuous batching: many sequences in one llama.cpp context, one decode per step.

A scheduler thread owns a context sized for ``parallel`` sequences (a unified KV cache).
Each step builds one batch from every running sequence: the last sampled token of each
decoding sequence, plus a chunk of prompt for sequences still being prefilled (chunked so
a long prompt does not stall the streams already running). After the decode each
sequence samples from its own row of logits with its own sampler chain (temperature,
seed, penalties, logit_bias, grammar), so requests with different parameters share steps.
Finished or cancelled sequences leave at once and free their KV cells.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from .engine import Step, logprob_step

__all__ = ["BatchScheduler", "Job"]

PREFILL_CHUNK = 256  # prompt tokens per sequence per step


class Job:
    """One generation: a prompt, a sampler chain and a callback for every sampled step.

    ``on_step(step)`` returns True to stop the sequence (end of text, stop sequence or
    budget); ``done`` is set when the sequence has left the batch, for whatever reason.
    """

    def __init__(
        self,
        tokens: list[int],
        sampler: Any,
        on_step: Callable[[Step], bool],
        cancelled: threading.Event,
        logprobs: int | None = None,
    ):
        self.tokens = tokens
        self.sampler = sampler
        self.on_step = on_step
        self.cancelled = cancelled
        self.logprobs = logprobs
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.seq = -1
        self.n_past = 0  # tokens of this sequence in the KV cache
        self.pending: list[int] = []  # tokens to decode next step


class BatchScheduler:
    def __init__(
        self, llm: Any, internals: Any, llama_cpp: Any, *, parallel: int, n_ctx: int, n_batch: int
    ):
        self.llama_cpp = llama_cpp
        self.n_vocab: int = llm.n_vocab()
        self.n_batch = n_batch
        self.n_ctx_seq = n_ctx
        params = type(llm.context_params).from_buffer_copy(llm.context_params)
        params.n_ctx = n_ctx * parallel  # every sequence may grow to n_ctx
        params.n_batch = n_batch
        params.n_ubatch = min(params.n_ubatch, n_batch)
        params.n_seq_max = parallel
        params.kv_unified = True
        self.ctx = internals.LlamaContext(model=llm._model, params=params, verbose=False)
        self.batch = internals.LlamaBatch(n_tokens=n_batch, embd=0, n_seq_max=1)
        self.free = list(range(parallel))
        self.running: list[Job] = []
        self.inbox: queue.Queue[Job | None] = queue.Queue()
        self._stop = False
        self.thread = threading.Thread(target=self._run, name="modelport-gguf-batch", daemon=True)
        self.thread.start()

    def submit(self, job: Job) -> None:
        self.inbox.put(job)

    def close(self) -> None:
        self._stop = True
        self.inbox.put(None)
        self.thread.join()
        self.ctx.close()
        self.batch.close()

    # --- the loop (scheduler thread only) --------------------------------------------

    def _run(self) -> None:
        while not self._stop:
            self._admit(block=not self.running)
            self._drop_cancelled()
            if self.running:
                try:
                    self._step()
                except Exception as exc:  # noqa: BLE001 - handed to every waiting request
                    for job in list(self.running):
                        self._finish(job, exc)

    def _admit(self, *, block: bool) -> None:
        while self.free:
            try:
                job = self.inbox.get(block=block)
            except queue.Empty:
                return
            if job is None:
                return
            block = False
            if job.cancelled.is_set():
                job.sampler.close()
                job.done.set()
                continue
            job.seq = self.free.pop(0)
            self.ctx.kv_cache_seq_rm(job.seq, -1, -1)
            self.running.append(job)

    def _drop_cancelled(self) -> None:
        for job in list(self.running):
            if job.cancelled.is_set():
                self._finish(job)

    def _finish(self, job: Job, error: BaseException | None = None) -> None:
        self.running.remove(job)
        self.ctx.kv_cache_seq_rm(job.seq, -1, -1)
        self.free.append(job.seq)
        job.sampler.close()
        job.error = error
        job.done.set()

    def _plan(self) -> list[tuple[Job, list[int], bool]]:
        """What each sequence decodes this step: (job, tokens, wants logits)."""
        room = self.n_batch
        plan = []
        for job in sorted(self.running, key=lambda j: not j.pending):  # decoders first
            if job.pending:
                take = job.pending
            else:
                rest = job.tokens[job.n_past :]
                take = rest[: min(PREFILL_CHUNK, room)]
            if not take or len(take) > room:
                continue
            room -= len(take)
            done_prompt = job.n_past + len(take) >= len(job.tokens)
            plan.append((job, take, bool(job.pending) or done_prompt))
        return plan

    def _step(self) -> None:
        plan = self._plan()
        batch = self.batch.batch
        n = 0
        rows: list[tuple[Job, int]] = []
        for job, tokens, logits in plan:
            for i, token in enumerate(tokens):
                batch.token[n] = token
                batch.pos[n] = job.n_past + i
                batch.seq_id[n][0] = job.seq
                batch.n_seq_id[n] = 1
                batch.logits[n] = logits and i == len(tokens) - 1
                n += 1
            if logits:
                rows.append((job, n - 1))
        batch.n_tokens = n
        self.ctx.decode(self.batch)
        for job, tokens, _ in plan:
            job.n_past += len(tokens)
            job.pending = []
        for job, row in rows:
            self._sample(job, row)

    def _sample(self, job: Job, row: int) -> None:
        token = int(job.sampler.sample(self.ctx, row))
        if job.logprobs is None:
            step = Step(token)
        else:
            step = logprob_step(self.ctx.get_logits_ith(row), self.n_vocab, token, job.logprobs)
        try:
            stop = job.on_step(step) or job.cancelled.is_set()
        except Exception as exc:  # noqa: BLE001 - handed to the waiting request
            self._finish(job, exc)
            return
        if stop or job.n_past + 1 >= self.n_ctx_seq:
            self._finish(job)
        else:
            job.pending = [token]
