"""Continuous batching: every generation of a model runs as a sequence of one scheduler.

A scheduler thread owns a llama.cpp context with ``parallel`` slots, one KV stream per
slot (``kv_unified = false``), and is the only thread that ever calls ``llama_decode``
(llama.cpp's OpenMP thread team then stays on one thread). Each step builds one batch
from every running sequence: the last sampled token of each decoding sequence, plus a
chunk of prompt for sequences still being prefilled (chunked so a long prompt does not
stall the streams already running). After the decode each sequence samples from its own
row of logits with its own sampler chain (temperature, seed, penalties, logit_bias,
grammar), so requests with different parameters share steps.

Separate KV streams make a sequence's numbers independent of what else is in the batch:
at temperature 0 a stream's text equals what the same request produces alone.

Prompt evaluation is shared two ways. A slot keeps the KV of its last sequence, and a new
sequence takes the free slot with the longest common prefix. A sequence whose prompt
starts like a running one's (the ``n`` choices of one request, or identical concurrent
requests) waits until that prompt is evaluated and copies its KV stream instead of
evaluating it again. Finished or cancelled sequences leave the batch at once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .engine import Step, logprob_step

if TYPE_CHECKING:
    from .vision import Media

__all__ = ["BatchScheduler", "Job"]

PREFILL_CHUNK = 256  # prompt tokens per sequence per step


def common_prefix(a: Sequence[int], b: Sequence[int], limit: int) -> int:
    n = 0
    for x, y in zip(a[:limit], b[:limit], strict=False):
        if x != y:
            break
        n += 1
    return n


class Job:
    """One generation: a prompt, a sampler chain and a callback for every sampled step.

    ``on_step(step)`` returns True to stop the sequence (end of text, stop sequence or
    budget); ``done`` is set when the sequence has left the batch, for whatever reason.
    ``reused`` says how many prompt tokens were not evaluated again (a cached prefix or
    a copied prompt). ``media`` holds a prompt's image chunks by the index of their first
    placeholder token.
    """

    def __init__(
        self,
        tokens: list[int],
        sampler: Any,
        on_step: Callable[[Step], bool],
        cancelled: threading.Event,
        logprobs: int | None = None,
        media: dict[int, Media] | None = None,
    ):
        self.tokens = tokens
        self.media = media or {}
        self.sampler = sampler
        self.on_step = on_step
        self.cancelled = cancelled
        self.logprobs = logprobs
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.reused = 0
        # scheduler-thread state
        self.slot: Slot | None = None
        self.n_past = 0  # tokens of this sequence in the KV cache
        self.history: list[int] = list(tokens)  # prompt, then every sampled token
        self.pending: list[int] = []  # the sampled token to decode next step
        self.source: Job | None = None  # a running job whose evaluated prompt to copy
        self.share = 0  # how many of its tokens

    def boundary(self, n: int) -> int:
        """``n`` moved back to the start of an image it falls inside: an image's KV is
        reused or evaluated whole."""
        for start, media in self.media.items():
            if start < n < start + media.n_tokens:
                return start
        return n

    def text_end(self) -> int:
        """Where the text being prefilled ends: the next image, or the prompt's end."""
        return min((s for s in self.media if s > self.n_past), default=len(self.tokens))


class Slot:
    """One sequence id with its own KV stream; ``cached`` is what that stream holds."""

    def __init__(self, seq: int):
        self.seq = seq
        self.cached: list[int] = []
        self.job: Job | None = None
        self.freed_at = 0  # step counter when it was last freed (least recent first)


class BatchScheduler:
    def __init__(
        self, llm: Any, internals: Any, *, parallel: int, n_ctx: int, n_batch: int, n_threads: int
    ):
        self.n_vocab: int = llm.n_vocab()
        self.n_batch = n_batch
        self.n_ctx_seq = n_ctx
        params = type(llm.context_params).from_buffer_copy(llm.context_params)
        params.n_ctx = n_ctx * parallel  # split into one stream of n_ctx per slot
        params.n_batch = n_batch
        params.n_ubatch = min(params.n_ubatch, n_batch)
        params.n_seq_max = parallel
        params.n_threads = params.n_threads_batch = n_threads
        params.kv_unified = False
        # Flash attention: faster on CPU, and a row's logits do not depend on how many
        # prompt tokens were evaluated with it (a reused prefix gives the same numbers).
        params.flash_attn_type = 1  # LLAMA_FLASH_ATTN_TYPE_ENABLED
        self.ctx = internals.LlamaContext(model=llm._model, params=params, verbose=False)
        self.batch = internals.LlamaBatch(n_tokens=n_batch, embd=0, n_seq_max=1)
        self.slots = [Slot(i) for i in range(parallel)]
        self.running: list[Job] = []
        self.inbox: queue.Queue[Job | None] = queue.Queue()
        self.steps = 0
        self.evaluated = 0  # prompt tokens evaluated, for tests and metrics
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
        for job in list(self.running):
            self._finish(job, RuntimeError("the model was unloaded"))
        self._drain()

    def _drain(self) -> None:
        """Jobs still queued when the scheduler stops: released with an error."""
        while True:
            try:
                job = self.inbox.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                job.sampler.close()
                job.error = RuntimeError("the model was unloaded")
                job.done.set()

    def _admit(self, *, block: bool) -> None:
        while any(slot.job is None for slot in self.slots):
            try:
                job = self.inbox.get(block=block)
            except queue.Empty:
                return
            if job is None:
                self._drain()
                return
            block = False
            if job.cancelled.is_set():
                job.sampler.close()
                job.done.set()
                continue
            self._place(job)

    def _place(self, job: Job) -> None:
        """Give the job the free slot holding the longest prefix of its prompt, or make it
        follow a running job whose prompt shares a longer one."""
        limit = len(job.tokens) - 1  # the last prompt token is evaluated for its logits
        free = [s for s in self.slots if s.job is None]
        slot = max(free, key=lambda s: (common_prefix(s.cached, job.tokens, limit), -s.freed_at))
        keep = job.boundary(common_prefix(slot.cached, job.tokens, limit))
        for other in self.running:
            shared = job.boundary(common_prefix(other.tokens, job.tokens, limit))
            if shared > max(keep, job.share):
                job.source, job.share = other, shared
        slot.job, job.slot = job, slot
        if not self.ctx.kv_cache_seq_rm(slot.seq, keep, -1):
            self.ctx.kv_cache_seq_rm(slot.seq, -1, -1)
            keep = 0
        job.n_past = job.reused = keep
        self.running.append(job)

    def _drop_cancelled(self) -> None:
        for job in list(self.running):
            if job.cancelled.is_set():
                self._finish(job)

    def _finish(self, job: Job, error: BaseException | None = None) -> None:
        self.running.remove(job)
        slot = job.slot
        assert slot is not None
        slot.job, slot.freed_at = None, self.steps
        if error is None:
            slot.cached = job.history[: job.n_past]  # the KV stays for prefix reuse
        else:
            slot.cached = []
            self.ctx.kv_cache_seq_rm(slot.seq, -1, -1)
        job.sampler.close()
        job.error = error
        job.done.set()

    def _copy_prompt(self, job: Job) -> bool:
        """Start a follower from its source's KV once that is evaluated; False while not."""
        source = job.source
        if source is None:
            return True
        if source not in self.running:  # it left early: evaluate the prompt ourselves
            job.source = None
            return True
        if source.n_past < job.share:
            return False
        assert job.slot is not None and source.slot is not None
        seq = job.slot.seq
        self.ctx.kv_cache_seq_rm(seq, -1, -1)
        self.ctx.kv_cache_seq_cp(source.slot.seq, seq, -1, -1)
        self.ctx.kv_cache_seq_rm(seq, job.share, -1)
        job.n_past = job.reused = job.share
        job.source = None
        return True

    def _evaluate_media(self, job: Job) -> bool:
        """Evaluate the images the prefill has reached (libmtmd decodes them on its own,
        outside the step's batch); False if that failed and the job left."""
        assert job.slot is not None
        while job.n_past in job.media:
            media = job.media[job.n_past]
            try:
                media.evaluate(self.ctx.ctx, job.slot.seq, job.n_past, self.n_batch)
            except Exception as exc:  # noqa: BLE001 - handed to the waiting request
                self._finish(job, exc)
                return False
            job.n_past += media.n_tokens
            self.evaluated += media.n_tokens
        return True

    def _plan(self) -> list[tuple[Job, list[int], bool]]:
        """What each sequence decodes this step: (job, tokens, wants logits)."""
        room = self.n_batch
        plan = []
        for job in sorted(self.running, key=lambda j: not j.pending):  # decoders first
            if job.pending:
                take = job.pending
            elif self._copy_prompt(job) and self._evaluate_media(job):
                rest = job.tokens[job.n_past : job.text_end()]
                take = rest[: min(PREFILL_CHUNK, room)]
            else:
                continue
            if not take or len(take) > room:
                continue
            room -= len(take)
            done_prompt = job.n_past + len(take) >= len(job.tokens)
            plan.append((job, take, bool(job.pending) or done_prompt))
        return plan

    def _step(self) -> None:
        plan = self._plan()
        if not plan:  # only followers waiting on a source that left this very step
            return
        batch = self.batch.batch
        n = 0
        rows: list[tuple[Job, int]] = []
        for job, tokens, logits in plan:
            assert job.slot is not None
            for i, token in enumerate(tokens):
                batch.token[n] = token
                batch.pos[n] = job.n_past + i
                batch.seq_id[n][0] = job.slot.seq
                batch.n_seq_id[n] = 1
                batch.logits[n] = logits and i == len(tokens) - 1
                n += 1
            if logits:
                rows.append((job, n - 1))
            if not job.pending:
                self.evaluated += len(tokens)
        batch.n_tokens = n
        self.ctx.decode(self.batch)
        self.steps += 1
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
            job.history.append(token)
