"""Continuous batching: every generation of a model runs as a sequence of one scheduler.

A scheduler thread owns a llama.cpp context with ``parallel`` slots, one KV stream per
slot (``kv_unified = false``), and is the only thread that ever calls ``llama_decode``
(llama.cpp's OpenMP thread team then stays on one thread). Each step is one decode call:
the last sampled token of every generating sequence, and some prompt of sequences still
being prefilled (a bounded amount per step while others generate, so a long prompt does
not stall the streams already running). After each decode every sequence samples from its
own row of logits with its own sampler chain (temperature, seed, penalties, logit_bias,
grammar), so requests with different parameters share steps.

Same request, same numbers. With a quantized V cache (the gguf backend's default,
``cache_type_v = "q8_0"``) llama.cpp's CPU attention takes one code path whatever the
batch: its tiled path (64 queries or more) and its split-KV path (one query of one
sequence over 512 cells or more) need K and V of the same float type. Every other kernel
computes a row the same way whatever else the call holds. So a token's numbers do not
depend on how its prompt was split into calls, on what other sequences share the call,
or on whether its KV was evaluated, copied from another sequence or kept from an earlier
request, and KV is reused token by token:

- a slot keeps the KV of everything its last sequence evaluated (prompt and generated
  tokens) for a next prompt with the same start (the next turn of a conversation);
- a sequence whose prompt starts like a running one's (the ``n`` choices of one request,
  identical concurrent requests) waits until those tokens are evaluated and copies them;
- only a prompt's last token is always evaluated again (sampling needs its logits), and an
  image is reused whole or not at all.

So at temperature 0 a stream's text is what the same request produces alone, and a seeded
request samples the same tokens on a warm cache as on a cold one.

One call, one pass over the weights. With one KV stream per slot llama.cpp evaluates a
call's rows in one pass only if their streams are consecutive and in increasing order; it
splits the call at every gap or step back (8 rows in shuffled order took twice as long as
in order). So rows go in slot order, and the running sequences are kept in consecutive
slots: a new one takes a free slot next to them (a better prefix held by another free slot
is moved over), and when one leaves from the middle and nobody waits to take its place,
the one in the highest slot moves into the gap. A move is a swap of two streams through a
spare one (three whole-stream copies of a few milliseconds each), so the cache it
replaces is kept too: with as many conversations as slots, every next turn still finds
its history (a plain copy lost one conversation's cache per move, and its next turn
evaluated the whole history again).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from modelport.plugin import coalesced_emits, flush_emits

from . import _llama
from .engine import Step, logprob_step
from .speculative import Drafter, StepCosts, plan_drafts

if TYPE_CHECKING:
    from .vision import Media

__all__ = ["BatchScheduler", "Job", "prefill_room"]

# Prompt tokens a step takes while other sequences generate, until the step's cost is
# measured (then the step budget decides), and the fewest it ever takes.
PREFILL_PER_STEP = 128
MIN_PREFILL = 32
# An idle scheduler's first arrival waits for the rest of a burst: while requests keep
# coming at most GATHER_GAP apart, for at most GATHER_MAX (seconds).
GATHER_GAP = 0.003
GATHER_MAX = 0.015


def prefill_room(
    budget: float, decode_s: float | None, token_s: float | None, *, decoding: int, n_batch: int
) -> int:
    """How many prompt tokens the next step may evaluate beside ``decoding`` generating
    sequences: as many as keep the step within ``budget`` seconds, by the measured cost
    of a decode-only step (``decode_s``) and of one prompt token (``token_s``); never
    fewer than ``MIN_PREFILL``, never more than the batch holds; ``PREFILL_PER_STEP``
    until both costs are known. With nothing generating, a whole batch (no stream to
    keep waiting)."""
    room = n_batch - decoding
    if not decoding:
        return room
    if decode_s is None or token_s is None or token_s <= 0:
        return min(PREFILL_PER_STEP, room)
    fits = int((budget - decode_s) / token_s)
    return max(MIN_PREFILL, min(fits, room))


def _average(old: float | None, new: float, weight: float = 0.2) -> float:
    return new if old is None else old + weight * (new - old)


def runs(seqs: set[int]) -> int:
    """How many runs of consecutive numbers ``seqs`` make: the passes over the weights a
    decode call over those streams takes."""
    return sum(1 for seq in seqs if seq - 1 not in seqs)


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
    placeholder token. With ``prompt_logprobs`` every prompt token after the first gets
    its log-probability (given the ones before it) in ``prompt_steps``, with that many
    alternatives; nothing is reused then. Tokens in ``forced`` are taken, in order,
    instead of sampled ones (``on_step`` may add some: a reasoning model's end marker
    once its thinking budget is spent).
    """

    def __init__(
        self,
        tokens: list[int],
        sampler: Any,
        on_step: Callable[[Step], bool],
        cancelled: threading.Event,
        logprobs: int | None = None,
        media: dict[int, Media] | None = None,
        prompt_logprobs: int | None = None,
    ):
        self.tokens = tokens
        self.sampler = sampler
        self.on_step = on_step
        self.cancelled = cancelled
        self.logprobs = logprobs
        self.media = media or {}
        self.prompt_logprobs = prompt_logprobs
        self.prompt_steps: list[Step] = []
        self.forced: list[int] = []
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.reused = 0
        # scheduler-thread state
        self.slot: Slot | None = None
        self.n_past = 0  # tokens of this sequence in the KV cache
        self.decoded: list[int] = []  # generated tokens in the KV cache, after the prompt
        self.pending: list[int] = []  # the sampled token to decode next step
        self.source: Job | None = None  # a running job whose evaluated tokens to copy
        self.share = 0  # how many of its tokens
        self.drafter: Drafter | None = None  # prompt lookup, when speculation is on
        self.drafts: list[int] = []  # proposals decoded after ``pending`` this step

    def evaluated(self) -> list[int]:
        """The tokens whose KV this sequence holds."""
        return (self.tokens + self.decoded)[: self.n_past]

    def usable(self, n: int) -> int:
        """``n`` tokens of this prompt, moved back to an image's start if they end inside
        it (an image is evaluated whole)."""
        for start, media in self.media.items():
            if start < n < start + media.n_tokens:
                return start
        return n

    def next_stop(self, room: int) -> int:
        """Where the next prompt chunk from ``n_past`` ends: at most ``room`` tokens, and
        before the next image."""
        stop = min(len(self.tokens), self.n_past + room)
        return min([stop, *(start for start in self.media if start > self.n_past)])


class Slot:
    """One sequence id with its own KV stream; ``cached`` is what that stream holds."""

    def __init__(self, seq: int):
        self.seq = seq
        self.cached: list[int] = []
        self.job: Job | None = None
        self.freed_at = 0  # step counter when it was last freed (least recent first)


class BatchScheduler:
    def __init__(
        self,
        llm: Any,
        internals: Any,
        *,
        parallel: int,
        n_ctx: int,
        n_batch: int,
        n_threads: int,
        cache_types: tuple[int, int],
        step_budget: float = 1.0,
        draft_max: int = 0,
    ):
        self.n_vocab: int = llm.n_vocab()
        # prompt-lookup drafts a sequence may send with its token per step (0: off), and
        # the decode step's cost by rows that decides whether they are worth it
        self.draft_max = draft_max
        self.costs = StepCosts()
        # the longest a step with prompt tokens may take while others generate (seconds),
        # and the measured costs it is planned with (moving averages)
        self.step_budget = step_budget
        self.decode_s: float | None = None  # a step with no prompt tokens
        self.token_s: float | None = None  # one prompt token more in a step
        self.n_ctx_seq = n_ctx
        self.n_batch = max(n_batch, parallel, PREFILL_PER_STEP)
        # copying a whole stream costs about one prompt token's evaluation per 1,000 cells
        # (2 ms for 1,024 cells, 5 ms for 4,096, against ~2 ms a token on 2 cores): copy
        # a prefix from another slot only when it saves several times that
        self.copy_cost = n_ctx // 128
        params = type(llm.context_params).from_buffer_copy(llm.context_params)
        # one stream of n_ctx per slot, and with several slots a spare one: the third
        # place of a swap (one slot never swaps)
        self.spare = parallel
        streams = parallel + 1 if parallel > 1 else 1
        params.n_ctx = n_ctx * streams
        params.n_batch = params.n_ubatch = self.n_batch  # one decode call, one ubatch
        params.n_seq_max = streams
        params.n_threads = params.n_threads_batch = n_threads
        params.kv_unified = False
        params.flash_attn_type = 1  # LLAMA_FLASH_ATTN_TYPE_ENABLED: faster on CPU too
        params.type_k, params.type_v = cache_types
        self.ctx = internals.LlamaContext(
            model=_llama.model_handle(llm), params=params, verbose=False
        )
        self.batch = internals.LlamaBatch(n_tokens=self.n_batch, embd=0, n_seq_max=1)
        self.slots = [Slot(i) for i in range(parallel)]
        self.running: list[Job] = []
        self.inbox: queue.Queue[Job | None] = queue.Queue()
        self.steps = 0
        self.evaluated = 0  # prompt tokens evaluated, for tests and metrics
        self.drafted = self.accepted = 0  # drafts sent, and taken
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
            self._compact()
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
                self._release(job, RuntimeError("the model was unloaded"))

    def _admit(self, *, block: bool) -> None:
        """Take queued jobs into free slots. An idle scheduler (``block``) waits for the
        first, then for the rest of a burst: while others keep arriving at most
        ``GATHER_GAP`` apart, for at most ``GATHER_MAX`` (a burst's requests reach it a
        few milliseconds apart, each parsed by the server in turn), so they start in one
        step instead of the first alone and the rest a whole prompt step later."""
        deadline = None
        arrived: list[Job] = []
        free = sum(slot.job is None for slot in self.slots)
        while len(arrived) < free:
            try:
                if block:
                    job = self.inbox.get()
                    deadline = time.perf_counter() + GATHER_MAX
                elif deadline is not None:
                    wait = min(GATHER_GAP, deadline - time.perf_counter())
                    job = self.inbox.get(timeout=wait) if wait > 0 else self.inbox.get_nowait()
                else:
                    job = self.inbox.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._place_all(arrived)  # (and released with the running ones)
                self._drain()
                return
            block = False
            if job.cancelled.is_set():
                self._release(job)
                continue
            arrived.append(job)
        self._place_all(arrived)

    def _place_all(self, jobs: list[Job]) -> None:
        """Place the jobs admitted together. Several are placed as a whole: into the free
        slots that keep the running ones and them in the fewest runs (one pass over the
        weights a step) and, among those, each job into the slot that reuses the most of
        its prompt, a cache from another free slot swapped in where that saves more than
        the swap costs. (Placed one by one, each would take the slot next to the ones
        before it, whatever that slot holds: the same prompts sent again lost their
        caches when their last tokens were too few to pay a swap.)"""
        if len(jobs) > 1:
            for job, slot, outside in self._matched(jobs):
                self._place(job, slot, outside)
        else:
            for job in jobs:
                self._place(job)

    def _matched(self, jobs: list[Job]) -> list[tuple[Job, Slot, list[Slot]]]:
        """Each job (in arrival order) with a free slot, and the free slots left over.
        The slots taken are as many free slots as there are jobs, next to each other
        among the free ones (the running slots between them aside): of those groups, the
        ones that leave the fewest runs with the running slots, and of these the one
        whose matching reuses the most (a job's worth in a slot: what the slot holds of
        its prompt, or the most a free slot outside the group holds less a swap's
        cost), matched greedily by worth (least recently freed slots on a tie)."""
        free = [slot.seq for slot in self.slots if slot.job is None]
        busy = {slot.seq for slot in self.slots if slot.job is not None}
        reuse = {i: [self._reusable(job, self.slots[i].cached) for job in jobs] for i in free}
        chosen: tuple[tuple[int, int], dict[int, int], list[int]] = ((-len(self.slots), -1), {}, [])
        for start in range(len(free) - len(jobs) + 1):
            group = free[start : start + len(jobs)]
            away = [
                max((reuse[i][j] for i in free if i not in group), default=0) - self.copy_cost
                for j in range(len(jobs))
            ]
            pairs = sorted(
                ((j, i) for j in range(len(jobs)) for i in group),
                key=lambda p: (
                    -max(reuse[p[1]][p[0]], away[p[0]]),
                    self.slots[p[1]].freed_at,
                    p[1],
                ),
            )
            match: dict[int, int] = {}  # job -> slot
            for j, i in pairs:
                if j not in match and i not in match.values():
                    match[j] = i
            total = sum(max(reuse[i][j], away[j]) for j, i in match.items())
            score = (-runs(busy | set(group)), total)
            if score > chosen[0]:
                chosen = (score, match, group)
        _, match, group = chosen
        outside = [self.slots[i] for i in free if i not in group]
        return [(job, self.slots[match[j]], outside) for j, job in enumerate(jobs)]

    @staticmethod
    def _reusable(job: Job, evaluated: Sequence[int]) -> int:
        """How much of ``evaluated`` the job can reuse: never its last token (sampling
        needs that row's logits), and an image whole or not at all."""
        if job.prompt_logprobs is not None:
            return 0  # every prompt row's logits are needed
        return job.usable(common_prefix(evaluated, job.tokens, len(job.tokens) - 1))

    def _place(self, job: Job, slot: Slot | None = None, others: Sequence[Slot] = ()) -> None:
        """Give the job ``slot``, or a free slot next to the running ones, starting from
        the longest prefix of its prompt on offer: the slot's own, another free slot's
        (any free slot's, or one of ``others`` when the slot is given: swapped in when
        that saves more than a copy costs), or a running job's (it then follows that
        job and copies its tokens once they are evaluated)."""
        if slot is None:
            others = [s for s in self.slots if s.job is None]
            busy = {j.slot.seq for j in self.running if j.slot is not None}
            reusable = {s.seq: self._reusable(job, s.cached) for s in others}
            slot = min(others, key=lambda s: (runs(busy | {s.seq}), -reusable[s.seq], s.freed_at))
        else:
            reusable = {s.seq: self._reusable(job, s.cached) for s in (slot, *others)}
        keep = reusable[slot.seq]
        if others:
            best = max(others, key=lambda s: (reusable[s.seq], -s.freed_at))
            if reusable[best.seq] - keep > self.copy_cost:
                self._swap_streams(best, slot)  # (what the slot held stays, in best's place)
                keep = reusable[best.seq]
        for other in self.running:  # (worth waiting for only when it saves a copy's cost)
            shared = self._reusable(job, other.tokens + other.decoded)
            if shared > max(keep + self.copy_cost, job.share):
                job.source, job.share = other, shared
        slot.job, job.slot = job, slot
        if not self.ctx.kv_cache_seq_rm(slot.seq, keep, -1):
            self.ctx.kv_cache_seq_rm(slot.seq, -1, -1)
            keep = 0
        job.n_past = job.reused = keep
        if self.draft_max:
            job.drafter = Drafter(job.tokens)
        self.running.append(job)

    def _swap_streams(self, a: Slot, b: Slot) -> None:
        """Exchange two free slots' KV streams and what they are known to hold, through
        the spare stream (three whole-stream copies, done in this order by llama.cpp at
        the start of the next decode call): moving one slot's cache next to the running
        ones keeps the cache it replaces (the next turn of another conversation)."""
        ctx, spare = self.ctx, self.spare
        ctx.kv_cache_seq_rm(spare, -1, -1)
        ctx.kv_cache_seq_cp(a.seq, spare, -1, -1)
        ctx.kv_cache_seq_rm(a.seq, -1, -1)
        ctx.kv_cache_seq_cp(b.seq, a.seq, -1, -1)
        ctx.kv_cache_seq_rm(b.seq, -1, -1)
        ctx.kv_cache_seq_cp(spare, b.seq, -1, -1)
        ctx.kv_cache_seq_rm(spare, -1, -1)
        a.cached, b.cached = b.cached, a.cached
        a.freed_at, b.freed_at = b.freed_at, a.freed_at

    def _copy_stream(self, source: Slot, target: Slot) -> None:
        """Make ``target``'s KV stream a copy of ``source``'s (done by llama.cpp at the
        start of the next decode call, before anything is written)."""
        self.ctx.kv_cache_seq_rm(target.seq, -1, -1)
        self.ctx.kv_cache_seq_cp(source.seq, target.seq, -1, -1)

    def _compact(self) -> None:
        """Close gaps between running slots: the job in the highest one moves into the
        lowest free slot below it, whose cache moves to the job's old slot (a swap)."""
        while True:
            busy = {j.slot.seq: j for j in self.running if j.slot is not None}
            if runs(set(busy)) <= 1:
                return
            gap = next(s for s in self.slots if s.job is None and s.seq > min(busy))
            job = busy[max(busy)]
            old = job.slot
            assert old is not None
            old.job = None
            self._swap_streams(old, gap)
            gap.job, job.slot = job, gap

    def _drop_cancelled(self) -> None:
        for job in list(self.running):
            if job.cancelled.is_set():
                self._finish(job)

    def _finish(self, job: Job, error: BaseException | None = None) -> None:
        if job not in self.running:
            return
        self.running.remove(job)
        slot = job.slot
        assert slot is not None
        slot.job, slot.freed_at = None, self.steps
        if error is None:  # its KV stays for the next prompt with the same start
            slot.cached = job.evaluated()
        else:
            slot.cached = []
            self.ctx.kv_cache_seq_rm(slot.seq, -1, -1)
        self._release(job, error)

    @staticmethod
    def _release(job: Job, error: BaseException | None = None) -> None:
        """Hand a job back to its waiting request, run or not."""
        job.sampler.close()
        job.error = error
        flush_emits()  # its last events go out before its worker learns it is done
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
        self._copy_stream(source.slot, job.slot)
        self.ctx.kv_cache_seq_rm(seq, job.share, -1)
        job.n_past = job.reused = job.share
        job.source = None
        return True

    def _step(self) -> None:
        """One decode call: every generating sequence's token, and the next prompt chunk
        of sequences being prefilled (as many tokens as keep the step within its budget
        while others generate, see ``prefill_room``; a whole batch when none does). An
        image is evaluated by libmtmd before the call."""
        decoding = [job for job in self.running if job.pending]
        if self.draft_max:
            self._plan_drafts(decoding)
        parts: list[tuple[Job, list[int], bool]] = [
            (job, job.pending + job.drafts, bool(job.drafts)) for job in decoding
        ]
        rows = sum(len(tokens) for _, tokens, _ in parts)
        room = prefill_room(
            self.step_budget, self.decode_s, self.token_s, decoding=rows, n_batch=self.n_batch
        )
        chunks: list[tuple[Job, int, int]] = []
        for job in [j for j in self.running if not j.pending and j.n_past < len(j.tokens)]:
            if room <= 0:
                break
            if not self._copy_prompt(job) or not self._evaluate_media(job):
                continue
            start, stop = job.n_past, job.next_stop(room)
            if stop == start:  # (a prompt ends in text, after its images)
                continue
            room -= stop - start
            parts.append((job, job.tokens[start:stop], job.prompt_logprobs is not None))
            chunks.append((job, start, stop))
        if not parts:
            return
        parts.sort(key=lambda part: part[0].slot.seq if part[0].slot else 0)  # one pass
        started = time.perf_counter()
        self._decode(parts)
        self._learn(time.perf_counter() - started, rows, sum(b - a for _, a, b in chunks))
        self.steps += 1
        last_row, row = {}, 0
        for job, tokens, _ in parts:
            row += len(tokens)
            last_row[job] = row - 1
        for job in decoding:
            job.n_past += 1
            job.decoded += job.pending
            job.pending = []
        for job, start, stop in chunks:
            if job.prompt_logprobs is not None:
                first = last_row[job] - (stop - start) + 1
                for i, pos in enumerate(range(start, min(stop, len(job.tokens) - 1))):
                    logits = self.ctx.get_logits_ith(first + i)
                    job.prompt_steps.append(
                        logprob_step(logits, self.n_vocab, job.tokens[pos + 1], job.prompt_logprobs)
                    )
            job.n_past = stop
            self.evaluated += stop - start
        with coalesced_emits():  # one wake-up of the server for the whole step
            for job in decoding:
                self._sample(job, last_row[job] - len(job.drafts))
            for job, _, stop in chunks:
                if stop == len(job.tokens):
                    self._sample(job, last_row[job])

    def _learn(self, seconds: float, decoding: int, prompt_tokens: int) -> None:
        """Update the step costs the budget and the drafts plan with: a decode-only
        step's time (by its rows, ``decoding``), and what each prompt token adds to a
        step (from steps with a good many of them)."""
        if not prompt_tokens:
            self.decode_s = _average(self.decode_s, seconds)
            if self.draft_max:
                self.costs.add(decoding, seconds)
        elif prompt_tokens >= MIN_PREFILL:
            base = self.decode_s if decoding and self.decode_s is not None else 0.0
            self.token_s = _average(self.token_s, max(seconds - base, 0.0) / prompt_tokens)

    def _evaluate_media(self, job: Job) -> bool:
        """Evaluate the images the prefill has reached, each whole with libmtmd (outside
        the step's call); False if that failed and the job left."""
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

    def _decode(self, parts: list[tuple[Job, list[int], bool]]) -> None:
        """One llama_decode: each part is (job, tokens from its n_past, logits of every
        row rather than only the last)."""
        batch = self.batch.batch
        n = 0
        for job, tokens, every in parts:
            assert job.slot is not None
            for i, token in enumerate(tokens):
                batch.token[n] = token
                batch.pos[n] = job.n_past + i
                batch.seq_id[n][0] = job.slot.seq
                batch.n_seq_id[n] = 1
                batch.logits[n] = every or i == len(tokens) - 1
                n += 1
        batch.n_tokens = n
        self.ctx.decode(self.batch)

    def _plan_drafts(self, decoding: list[Job]) -> None:
        """Each generating sequence's drafts for this step: its drafter's proposals, as
        many as raise the step's expected tokens per second (``plan_drafts``), none for
        a sequence whose next tokens are forced or that nears the end of its context."""
        offers: list[tuple[float, list[int]]] = []
        for job in decoding:
            drafter, proposal = job.drafter, []
            if drafter is not None and not job.forced:
                proposal = drafter.propose(self.draft_max)
                drafter.guess = proposal[0] if proposal else None
                proposal = proposal[: max(self.n_ctx_seq - job.n_past - 3, 0)]
            offers.append((drafter.acceptance if drafter else 0.0, proposal))
        counts = plan_drafts(
            [(rate, len(proposal)) for rate, proposal in offers],
            len(decoding),
            self.costs,
            self.n_batch - len(decoding),
        )
        for job, (_, proposal), count in zip(decoding, offers, counts, strict=True):
            job.drafts = proposal[:count]

    def _sample(self, job: Job, row: int) -> None:
        """Sample the job's next token from ``row``. While it equals the job's next draft
        (whose KV the same call wrote, in the next row), that draft is taken and the
        token after it is sampled from the draft's row; the cells of drafts not taken are
        removed."""
        drafts, taken, checked = job.drafts, 0, 0
        try:  # a failure here (a sampler, a callback) ends this sequence only
            while True:
                if job.forced:
                    token = job.forced.pop(0)
                else:
                    token = int(job.sampler.sample(self.ctx, row + taken))
                if job.logprobs is None:
                    step = Step(token)
                else:
                    logits = self.ctx.get_logits_ith(row + taken)
                    step = logprob_step(logits, self.n_vocab, token, job.logprobs)
                stop = job.on_step(step) or job.cancelled.is_set()
                if stop or taken == len(drafts):
                    break
                checked += 1
                if token != drafts[taken]:
                    break
                taken += 1
        except Exception as exc:  # noqa: BLE001 - handed to the waiting request
            self._finish(job, exc)
            return
        job.drafts = []
        self.drafted += len(drafts)
        self.accepted += taken
        job.n_past += taken
        job.decoded += drafts[:taken]
        if taken < len(drafts):
            assert job.slot is not None
            self.ctx.kv_cache_seq_rm(job.slot.seq, job.n_past, -1)
        if job.drafter is not None:
            job.drafter.extend([*drafts[:taken], token])
            if drafts:
                job.drafter.observe(taken, checked)
            elif job.drafter.guess is not None and not stop:
                job.drafter.observe(int(token == job.drafter.guess), 1)
        if stop or job.n_past + 1 >= self.n_ctx_seq:
            self._finish(job)
        else:
            job.pending = [token]
