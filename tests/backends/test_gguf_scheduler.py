"""The gguf batch scheduler in process: prompt evaluation shared between sequences."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TypeVar

import pytest

from fixtures.tiny_vision import build_tiny_vision
from helpers import chat_text, smollm2_gguf
from modelport.backends.gguf import GgufOptions, batched
from modelport.backends.gguf.batched import (
    MIN_PREFILL,
    PREFILL_PER_STEP,
    BatchScheduler,
    Job,
    prefill_room,
    runs,
)
from modelport.backends.gguf.engine import Greedy, Step, build_sampler
from modelport.backends.gguf.model import GgufModel
from modelport.core import ChatRequest, Finish, LoadContext, Message, Sampling, TextDelta

T = TypeVar("T")


@pytest.fixture(scope="module")
def model() -> GgufModel:
    loaded = _fresh(parallel=4)
    yield loaded
    loaded.close()


def _request(text: str, seed: int) -> ChatRequest:
    return ChatRequest(
        model="smollm2",
        messages=(Message(role="user", content=text),),
        sampling=Sampling(temperature=1.0, seed=seed, max_tokens=8),
    )


_run = chat_text


def _long(topic: str) -> str:
    """A prompt of about 200 tokens, its own for each test (slots keep what they saw)."""
    words = ["cat", "dog", "tree", "cloud", "river"] * 6
    return f"Here is a list of {topic}: " + ", ".join(
        f"item {i} is a {w}" for i, w in enumerate(words)
    )


def _prompt_tokens(model: GgufModel, request: ChatRequest) -> list[int]:
    return model._tokens(model.template.render(request.messages), special=True)


def _fresh(parallel: int) -> GgufModel:
    return GgufModel.load(
        LoadContext(
            name="smollm2",
            path=smollm2_gguf(),
            options=GgufOptions(n_ctx=1024, n_threads=2),
            parallel=parallel,
        )
    )


def _record_calls(
    scheduler: BatchScheduler, monkeypatch: pytest.MonkeyPatch
) -> list[list[tuple[Job, int]]]:
    """Every decode call's rows as (job, slot) in row order."""
    calls: list[list[tuple[Job, int]]] = []
    decode = scheduler._decode

    def recording(parts: list[tuple[Job, list[int], bool]]) -> None:
        calls.append([(job, job.slot.seq) for job, tokens, _ in parts for _ in tokens])
        decode(parts)

    monkeypatch.setattr(scheduler, "_decode", recording)
    return calls


def _job(model: GgufModel, tokens: list[int], budget: int) -> tuple[Job, list[Step]]:
    """A greedy job that runs ``budget`` steps (end of text or not), with log-probs."""
    steps: list[Step] = []

    def on_step(step: Step) -> bool:
        steps.append(step)
        return len(steps) >= budget

    job = Job(list(tokens), Greedy(model.llm.n_vocab()), on_step, threading.Event(), logprobs=0)
    return job, steps


def _run_all(scheduler: BatchScheduler, jobs: Iterable[Job]) -> None:
    """Submit the jobs at once, and wait until each has finished without an error."""
    jobs = list(jobs)
    for job in jobs:
        scheduler.submit(job)
    for job in jobs:
        assert job.done.wait(60) and job.error is None


def _slots(calls: list[list[tuple[Job, int]]], of: Job) -> list[int]:
    """The slot of each of ``of``'s rows, call after call."""
    return [seq for rows in calls for job, seq in rows if job is of]


def _one_pass_each(calls: list[list[tuple[Job, int]]]) -> None:
    """Each call's rows are in slot order over consecutive slots: llama.cpp evaluates
    them in one pass over the weights (it splits a call at every gap or step back)."""
    for rows in calls:
        seqs = [seq for _, seq in rows]
        assert seqs == sorted(seqs) and runs(set(seqs)) == 1, seqs


def _greedy(text: str, tokens: int) -> ChatRequest:
    return ChatRequest(
        model="smollm2",
        messages=(Message(role="user", content=text),),
        sampling=Sampling(temperature=0.0, max_tokens=tokens, logprobs=True),
    )


async def _logprobs(on: GgufModel, request: ChatRequest) -> tuple[list[float], int]:
    """The log-probability of every generated token, and the prompt's length."""
    values: list[float] = []
    prompt = 0
    async for event in on.chat(request):
        if isinstance(event, TextDelta):
            values += [t.logprob for t in event.logprobs or ()]
        elif isinstance(event, Finish):
            prompt = event.usage.prompt_tokens
    return values, prompt


def _alone(request: ChatRequest, run: Callable[[GgufModel], Awaitable[T]]) -> T:
    """``run`` on a fresh model with one slot: the request alone and cold."""
    cold = _fresh(parallel=1)
    try:
        return asyncio.run(run(cold))
    finally:
        cold.close()


def test_concurrent_same_prompt_is_evaluated_once(model: GgufModel) -> None:
    """Three concurrent requests with one prompt: one evaluates it, the other two copy
    its KV and evaluate only the last token (whose logits they sample from)."""
    scheduler = model.scheduler
    assert scheduler is not None
    before = scheduler.evaluated
    results = asyncio.run(_gather(model, [_request(_long("pets"), seed) for seed in (1, 2, 3)]))
    prompt = results[0][1].usage.prompt_tokens
    assert prompt > 150
    assert scheduler.evaluated - before == prompt + 2
    assert all(f.usage.completion_tokens == 8 for _, f in results)
    assert len({text for text, _ in results}) == 3


def test_next_turn_reuses_the_conversation_and_the_numbers_stay_the_same(
    model: GgufModel,
) -> None:
    """A slot keeps the KV of the prompt and of the answer: the next turn of the
    conversation evaluates only what is new, and samples exactly what a cold model
    samples (same seed, temperature 1)."""
    scheduler = model.scheduler
    assert scheduler is not None
    first = _request(_long("chores"), 5)
    answer, _ = asyncio.run(_run(model, first))
    follow_up = ChatRequest(
        model="smollm2",
        messages=(
            *first.messages,
            Message(role="assistant", content=answer),
            Message(role="user", content="And more."),
        ),
        sampling=Sampling(temperature=1.0, seed=6, max_tokens=8),
    )
    old, new = _prompt_tokens(model, first), _prompt_tokens(model, follow_up)
    assert new[: len(old)] == old
    before = scheduler.evaluated
    warm, finish = asyncio.run(_run(model, follow_up))
    assert finish.usage.prompt_tokens == len(new)
    evaluated = scheduler.evaluated - before
    assert evaluated < len(new) - len(old)  # the whole first prompt and some of the answer
    cold, _ = _alone(follow_up, lambda cold_model: _run(cold_model, follow_up))
    assert warm == cold


def test_long_context_numbers_do_not_depend_on_the_batch(model: GgufModel) -> None:
    """Past 256 tokens of context, a sequence decoding alone and one decoding beside
    others (its prompt evaluated in one call, or in chunks between another's steps) get
    bitwise the same log-probabilities: the quantized V cache keeps llama.cpp's attention
    on one path (with f16 V a lone sequence takes a split-KV path and differs)."""
    text = _long("errands") + ". Also a hammer, a saw, some nails. Tell a story about them."

    async def beside_another() -> list[float]:
        cat = _greedy("Write a long story about a cat.", 48)
        other = asyncio.ensure_future(_logprobs(model, cat))
        await asyncio.sleep(0.3)  # it is generating when the long prompt arrives
        mine, _ = await _logprobs(model, _greedy(text, 24))
        await other
        return mine

    request = _greedy(text, 24)
    alone, prompt = _alone(request, lambda cold: _logprobs(cold, request))
    assert 256 < prompt < 512  # one call alone (n_batch 512); chunks beside another
    assert len(alone) == 24
    assert asyncio.run(beside_another()) == alone


async def _gather(model: GgufModel, requests: list[ChatRequest]) -> list[tuple[str, Finish]]:
    return list(await asyncio.gather(*(_run(model, r) for r in requests)))


def test_heads_a_quantized_cache_cannot_hold_fall_back_to_f16(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The tiny vision fixture's LLM has 16-wide attention heads: a q8_0 V cache (blocks
    of 32) cannot hold them, so the model loads with an f16 cache, says so, and serves."""
    llm_gguf, _ = build_tiny_vision(tmp_path, tokenizer_gguf=smollm2_gguf())
    with caplog.at_level(logging.WARNING, logger="modelport.backends.gguf"):
        tiny = GgufModel.load(
            LoadContext(name="tiny", path=llm_gguf, options=GgufOptions(n_ctx=256), parallel=2)
        )
    try:
        assert any(
            "f16/f16" in r.getMessage() and "'tiny'" in r.getMessage() for r in caplog.records
        )
        text, finish = asyncio.run(_run(tiny, _request("Hello", 1)))
        assert finish.usage.completion_tokens == 8 and text
    finally:
        tiny.close()


def test_greedy_shortcut_picks_what_llamas_greedy_sampler_picks(model: GgufModel) -> None:
    """Plain temperature 0 reads the argmax from the logits (``Greedy``); a zero
    logit_bias goes through llama.cpp's sampler chain and changes no logit: the two
    must say the same, token for token."""
    internals = model._llama_cpp._internals
    plain = Sampling(temperature=0.0, max_tokens=48)
    chained = Sampling(temperature=0.0, max_tokens=48, logit_bias={42: 0.0})
    assert isinstance(build_sampler(model.llm, internals, plain), Greedy)
    sampler = build_sampler(model.llm, internals, chained)
    assert not isinstance(sampler, Greedy)
    sampler.close()
    for text in ("Write a haiku about rain.", "Count from one to twenty in words."):
        messages = (Message(role="user", content=text),)
        fast, a = asyncio.run(
            _run(model, ChatRequest(model="smollm2", messages=messages, sampling=plain))
        )
        slow, b = asyncio.run(
            _run(model, ChatRequest(model="smollm2", messages=messages, sampling=chained))
        )
        assert fast == slow and a.usage.completion_tokens == b.usage.completion_tokens > 10


def test_rows_go_in_slot_order_and_the_last_sequence_moves_into_a_gap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sequences a, b, c take slots 0, 1, 2. a ends first; e arrives and takes slot 0
    (next to the others; it runs after them, its rows go first). b ends next, from the
    middle: c moves from slot 2 into slot 1 (its KV copied). Every call is one pass,
    and c's log-probabilities are bitwise what it gets alone."""
    fresh = _fresh(parallel=3)
    try:
        scheduler = fresh.scheduler
        assert scheduler is not None
        calls = _record_calls(scheduler, monkeypatch)
        request = _greedy("Write a long story about a ship.", 24)

        def prompt(text: str) -> list[int]:
            return _prompt_tokens(fresh, _greedy(text, 1))

        (a, _), (b, _), (c, c_steps) = (
            _job(fresh, prompt("Say hello."), 4),
            _job(fresh, prompt("Count to ten."), 32),
            _job(fresh, _prompt_tokens(fresh, request), 48),
        )
        for job in (a, b, c):
            scheduler.submit(job)
        assert a.done.wait(60)
        e, _ = _job(fresh, prompt("Write a long story about a cat."), 40)
        scheduler.submit(e)
        for job in (b, c, e):
            assert job.done.wait(60) and job.error is None
    finally:
        fresh.close()
    _one_pass_each(calls)

    assert (
        set(_slots(calls, a)) == {0}
        and set(_slots(calls, b)) == {1}
        and set(_slots(calls, e)) == {0}
    )
    assert _slots(calls, c)[0] == 2 and _slots(calls, c)[-1] == 1
    alone, _ = _alone(request, lambda cold: _logprobs(cold, request))
    assert len(alone) == 24
    assert [step.logprob for step in c_steps[:24]] == alone


def test_a_prefix_held_by_a_far_slot_is_copied_next_to_the_running_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Slot 0 runs; slot 2 holds a long prompt's KV; slot 1 is free. The same prompt
    again runs in slot 1 (next to slot 0) from a copy of slot 2's stream: only its last
    token is evaluated, and it samples exactly what the first run sampled."""
    fresh = _fresh(parallel=3)
    try:
        scheduler = fresh.scheduler
        assert scheduler is not None
        calls = _record_calls(scheduler, monkeypatch)
        prompt = _prompt_tokens(fresh, _greedy(_long("tools"), 2))
        (a, _), (b, _), (c, c_steps) = (
            _job(fresh, _prompt_tokens(fresh, _greedy("Write a long story.", 1)), 300),
            _job(fresh, _prompt_tokens(fresh, _greedy("Count to ten.", 1)), 24),
            _job(fresh, prompt, 2),
        )
        for job in (a, b, c):
            scheduler.submit(job)
        assert c.done.wait(60) and b.done.wait(60)
        assert not a.done.is_set()  # slot 0 still runs
        d, d_steps = _job(fresh, prompt, 2)
        scheduler.submit(d)
        assert d.done.wait(60) and d.error is None
        assert not a.done.is_set()
        a.cancelled.set()
        assert a.done.wait(60)
    finally:
        fresh.close()
    _one_pass_each(calls)
    assert set(_slots(calls, c)) == {2}
    assert set(_slots(calls, d)) == {1}
    assert len(prompt) > 150 and d.reused == len(prompt) - 1
    assert sum(1 for rows in calls for job, _ in rows if job is d) == 2  # last token, 1 step
    assert d_steps == c_steps


def test_as_many_conversations_as_slots_each_keep_their_history(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three conversations on three slots (0, 1, 2). A's next turn runs in slot 0; C's
    arrives and takes slot 1, next to it, with its history swapped in from slot 2 (B's
    moves to slot 2, not overwritten); once C's is done, B's takes slot 1 the same way,
    and C's new history moves to slot 2. Each next turn reuses its whole first turn,
    every call is one pass, and the slots end holding all three conversations."""
    fresh = _fresh(parallel=3)
    try:
        scheduler = fresh.scheduler
        assert scheduler is not None
        calls = _record_calls(scheduler, monkeypatch)
        first = {t: _prompt_tokens(fresh, _greedy(_long(t), 1)) for t in ("ants", "bees", "cats")}
        turns = [_job(fresh, tokens, 4)[0] for tokens in first.values()]
        _run_all(scheduler, turns)
        assert [job.slot.seq for job in turns if job.slot] == [0, 1, 2]
        more = fresh._tokens(" And then?", special=False)
        a2, _ = _job(fresh, first["ants"] + more, 400)
        c2, _ = _job(fresh, first["cats"] + more, 2)
        b2, _ = _job(fresh, first["bees"] + more, 2)
        scheduler.submit(a2)
        while not a2.decoded:
            time.sleep(0.005)
        scheduler.submit(c2)
        assert c2.done.wait(60) and c2.error is None
        scheduler.submit(b2)
        assert b2.done.wait(60) and b2.error is None
        a2.cancelled.set()
        assert a2.done.wait(60)
    finally:
        fresh.close()
    _one_pass_each(calls)
    assert set(_slots(calls, c2)) == {1}
    assert set(_slots(calls, b2)) == {1}
    for job, topic in ((a2, "ants"), (b2, "bees"), (c2, "cats")):
        assert job.reused >= len(first[topic]), topic
    ends = (a2, b2, c2)
    held = [slot.cached[: len(job.tokens)] for slot, job in zip(scheduler.slots, ends, strict=True)]
    assert held == [job.tokens for job in ends]


def test_returning_conversations_in_a_burst_find_their_histories(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Eight conversations on eight slots. Three whose histories lie apart (slots 1, 4
    and 6) come back at once into the idle scheduler: they run side by side (one pass
    a step), each with its whole history reused (swapped in from outside the run where
    it lies outside), and no other history is lost: the five others then come back at
    once and reuse theirs too."""
    monkeypatch.setattr(batched, "GATHER_GAP", 0.05)
    monkeypatch.setattr(batched, "GATHER_MAX", 0.5)
    fresh = _fresh(parallel=8)
    topics = ["ants", "bees", "cats", "dogs", "eels", "figs", "gnus", "hens"]
    try:
        scheduler = fresh.scheduler
        assert scheduler is not None
        first = {t: _prompt_tokens(fresh, _greedy(_long(t), 1)) for t in topics}
        turns = {t: _job(fresh, tokens, 2)[0] for t, tokens in first.items()}
        _run_all(scheduler, turns.values())
        at = {job.slot.seq: t for t, job in turns.items() if job.slot is not None}
        calls = _record_calls(scheduler, monkeypatch)
        more = fresh._tokens(" And then?", special=False)
        apart = [at[1], at[4], at[6]]
        for group in (apart, [t for t in topics if t not in apart]):
            again = {t: _job(fresh, first[t] + more, 2)[0] for t in group}
            _run_all(scheduler, again.values())
            for t, job in again.items():
                assert job.reused >= len(first[t]), t
    finally:
        fresh.close()
    _one_pass_each(calls)


def test_prefill_room_keeps_a_step_within_its_budget() -> None:
    # 8 streams decoding in 30 ms, 0.5 ms a prompt token: a 250 ms budget leaves 440
    assert prefill_room(0.25, 0.03, 0.0005, decoding=8, n_batch=512) == 440
    assert prefill_room(0.25, 0.03, 0.0001, decoding=8, n_batch=512) == 504  # (the batch)
    assert prefill_room(0.01, 0.03, 0.0005, decoding=8, n_batch=512) == MIN_PREFILL
    assert prefill_room(0.25, None, None, decoding=8, n_batch=512) == PREFILL_PER_STEP
    assert prefill_room(0.25, 0.03, 0.0005, decoding=0, n_batch=512) == 512  # nobody waits


def _prompt_rows(calls: list[list[tuple[Job, int]]], job: Job) -> list[int]:
    """How many of ``job``'s rows each call held (0 where it had none)."""
    return [sum(1 for j, _ in rows if j is job) for rows in calls]


def test_the_step_budget_holds_beside_a_running_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the costs pinned (10 ms a decode-only step, 1 ms a prompt token) and a budget
    of 58 ms, a long prompt arriving while another sequence generates is evaluated 48
    tokens a step, and the running sequence gets a token every step meanwhile."""
    fresh = _fresh(parallel=2)
    try:
        scheduler = fresh.scheduler
        assert scheduler is not None
        monkeypatch.setattr(scheduler, "_learn", lambda *_: None)
        scheduler.decode_s, scheduler.token_s, scheduler.step_budget = 0.01, 0.001, 0.058
        calls = _record_calls(scheduler, monkeypatch)
        running, _ = _job(fresh, _prompt_tokens(fresh, _greedy("Say hello.", 1)), 60)
        scheduler.submit(running)
        while scheduler.steps < 3:
            time.sleep(0.005)
        long_prompt = _prompt_tokens(fresh, _greedy("Write about ships. " * 60, 1))
        arriving, _ = _job(fresh, long_prompt, 2)
        scheduler.submit(arriving)
        assert arriving.done.wait(60) and running.done.wait(60)
    finally:
        fresh.close()
    rows = _prompt_rows(calls, arriving)
    prefill = [n for n in rows if n > 1]  # (its own decode steps have one row)
    assert len(long_prompt) > 200
    assert max(prefill) == 48 and len(prefill) == -(-(len(long_prompt)) // 48)
    for call in calls:
        if any(j is arriving for j, _ in call) and sum(1 for j, _ in call if j is arriving) > 1:
            assert any(j is running for j, _ in call), "the running stream skipped a step"


def test_a_burst_into_an_idle_scheduler_starts_in_one_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Six prompts reaching an idle scheduler a few ms apart (as a burst's requests do,
    each parsed in turn) start in the same first step: the first waits for the rest.
    (The window is widened here, 50 ms gaps and 0.5 s at most, so a loaded machine's
    late sleeps cannot split the burst; without any window it is split.)"""
    monkeypatch.setattr(batched, "GATHER_GAP", 0.05)
    monkeypatch.setattr(batched, "GATHER_MAX", 0.5)
    fresh = _fresh(parallel=8)
    try:
        scheduler = fresh.scheduler
        assert scheduler is not None
        calls = _record_calls(scheduler, monkeypatch)
        topics = ["Ships", "Cats", "Trees", "Cities", "Songs", "Storms"]
        burst = [
            _job(fresh, fresh._tokens(f"{t} are the subject. " * 4, special=False), 2)[0]
            for t in topics
        ]
        for job in burst:
            scheduler.submit(job)
            time.sleep(0.005)
        for job in burst:
            assert job.done.wait(60) and job.error is None
    finally:
        fresh.close()
    assert {id(job) for job, _ in calls[0]} == {id(job) for job in burst}


def _burst_beside(
    scheduler: BatchScheduler, first: Job, burst: list[Job], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``first`` alone until it has generated for two steps, then ``burst`` admitted
    together beside it (as a burst's requests arrive); waits for every job."""
    hold = threading.Event()  # (set: the scheduler admits nobody new)
    admit = scheduler._admit

    def gated(*, block: bool) -> None:
        if not (hold.is_set() and scheduler.running):
            admit(block=block)

    monkeypatch.setattr(scheduler, "_admit", gated)
    steps = scheduler.steps
    scheduler.submit(first)
    while scheduler.steps < steps + 2:
        time.sleep(0.005)
    hold.set()
    for job in burst:
        scheduler.submit(job)
    hold.clear()
    for job in [first, *burst]:
        assert job.done.wait(60) and job.error is None


def _eight_stories(monkeypatch: pytest.MonkeyPatch) -> tuple[GgufModel, list[list[int]]]:
    """Eight slots, a burst window wide enough for a slow machine, and eight prompts
    with a long shared opening whose own last tokens are fewer than a swap is worth."""
    monkeypatch.setattr(batched, "GATHER_GAP", 0.05)
    monkeypatch.setattr(batched, "GATHER_MAX", 0.5)
    fresh = _fresh(parallel=8)
    topics = ["Ships", "Cats", "Trees", "Cities", "Songs", "Storms", "Bridges", "Clocks"]
    head = "Every user sends this same opening, and then the subject of their story: "
    return fresh, [fresh._tokens(f"{head}{t}.", special=False) for t in topics]


def test_the_same_burst_again_finds_each_prompt_in_its_slot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Eight prompts at once into an idle scheduler, then the same eight again in
    another order: each is placed into the slot that holds it and evaluates only its last
    token. (Placed one by one, each took the slot next to the one before it whatever
    that slot held: their shared opening was reused, their own few last tokens, fewer
    than a swap of caches is worth, were evaluated again.)"""
    fresh, prompts = _eight_stories(monkeypatch)
    try:
        scheduler = fresh.scheduler
        assert scheduler is not None
        calls = _record_calls(scheduler, monkeypatch)
        again = [prompts[i] for i in (3, 0, 6, 1, 7, 2, 5, 4)]
        for order in (prompts, again):
            burst = [_job(fresh, tokens, 2)[0] for tokens in order]
            _run_all(scheduler, burst)
        first_call_of_second_burst = calls[-2]
    finally:
        fresh.close()
    assert [job.reused for job in burst] == [len(tokens) - 1 for tokens in again]
    assert len(first_call_of_second_burst) == 8  # one row each, one step


def test_a_burst_beside_a_running_sequence_finds_each_prompt_in_its_slot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Eight prompts, then one of them again alone, and while it generates the other
    seven again together (as requests reach a model's replica behind Ray's ingress: the
    first a few milliseconds ahead of the rest): the seven are placed as a whole beside
    the running one, each into the slot that holds it, and evaluate only their last
    tokens, in one step. (Placed one by one next to each other, some took a slot that
    held another prompt and evaluated their own last few tokens again.)"""
    fresh, prompts = _eight_stories(monkeypatch)
    try:
        scheduler = fresh.scheduler
        assert scheduler is not None
        _run_all(scheduler, [_job(fresh, tokens, 2)[0] for tokens in prompts])
        calls = _record_calls(scheduler, monkeypatch)
        first, _ = _job(fresh, prompts[5], 30)
        again = [prompts[i] for i in (3, 0, 6, 1, 7, 2, 4)]
        burst = [_job(fresh, tokens, 2)[0] for tokens in again]
        _burst_beside(scheduler, first, burst, monkeypatch)
    finally:
        fresh.close()
    assert [job.reused for job in burst] == [len(tokens) - 1 for tokens in again]
    # the step that evaluated the seven: one row each, beside the running one's token
    assert any(len(call) == 8 and {j for j, _ in call} == {first, *burst} for call in calls)


def test_a_burst_of_short_prompts_joins_one_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seven short prompts (no shared start to copy) that arrive while one sequence
    generates are evaluated in the same step when the budget holds them all (a fixed
    128-token chunk split them)."""
    fresh = _fresh(parallel=8)
    try:
        scheduler = fresh.scheduler
        assert scheduler is not None
        monkeypatch.setattr(scheduler, "_learn", lambda *_: None)
        scheduler.decode_s, scheduler.token_s, scheduler.step_budget = 0.01, 0.0002, 0.25
        calls = _record_calls(scheduler, monkeypatch)
        first, _ = _job(fresh, _prompt_tokens(fresh, _greedy("Say hello.", 1)), 30)
        # distinct from their first token: nothing to copy from one another
        topics = ["Ships", "Cats", "Trees", "Cities", "Songs", "Storms", "Clocks"]
        burst = [
            _job(fresh, fresh._tokens(f"{t} are the subject. " * 6, special=False), 2)[0]
            for t in topics
        ]
        prompts = sum(len(job.tokens) for job in burst)
        _burst_beside(scheduler, first, burst, monkeypatch)
    finally:
        fresh.close()
    assert prompts > PREFILL_PER_STEP  # (so a fixed chunk would have split them)
    # a call holding every burst prompt whole (a prompt's rows; a decode step has one)
    whole = [
        call
        for call in calls
        if all(sum(1 for j, _ in call if j is job) == len(job.tokens) for job in burst)
    ]
    together = whole
    assert together, "the burst's prompts were split over several steps"
