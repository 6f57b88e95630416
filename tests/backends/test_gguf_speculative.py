"""Prompt-lookup speculative decoding: the drafter, the cost model, the plan, and the real
model's output with drafts on and off (greedy and seeded, alone and batched)."""

from __future__ import annotations

import asyncio

import pytest

from helpers import chat_text, smollm2_gguf
from modelport.backends.gguf import GgufOptions
from modelport.backends.gguf.model import GgufModel
from modelport.backends.gguf.speculative import Drafter, StepCosts, plan_drafts
from modelport.core import ChatRequest, LoadContext, Message, Sampling, TextDelta

DOCUMENT = """The harbour of Port Ellery was built in 1821 to shelter the herring fleet \
from the autumn gales. Its two granite piers, the north pier and the east pier, enclose a \
basin of about four acres that dries at low tide. A lighthouse stands at the end of the \
east pier; its lamp was first lit in 1834 and has been automatic since 1962.

The old net loft on the north quay has been restored as a museum. It shows the tools of \
the curing yards, photographs of the fleet at its height, and a model of the harbour as it \
was in 1880. The museum is open every day from April to October and on weekends in winter.
"""

# a request that quotes its prompt (SmolLM2 copies most of the first paragraph)
QUOTE = f"{DOCUMENT}\nQuote the text above exactly, word for word."


def test_drafter_proposes_what_followed_the_longest_earlier_ngram() -> None:
    drafter = Drafter([1, 2, 3, 4, 5, 6, 9, 9, 2, 3])
    assert drafter.propose(3) == [4, 5, 6]  # "2 3" occurred at 1..2
    drafter.extend([4])
    assert drafter.propose(2) == [5, 6]  # now "2 3 4"
    drafter.extend([7])  # "4 7" never occurred, nor "7"+anything
    assert drafter.propose(4) == []
    # the latest earlier occurrence wins: "5 6" is followed by 8 the second time
    later = Drafter([5, 6, 1, 5, 6, 8, 0, 5, 6])
    assert later.propose(1) == [8]


def test_drafter_acceptance_follows_what_came_true() -> None:
    drafter = Drafter([])
    start = drafter.acceptance
    drafter.observe(hits=4, tries=4)
    assert drafter.acceptance > start
    high = drafter.acceptance
    for _ in range(10):
        drafter.observe(hits=0, tries=1)
    assert drafter.acceptance < 0.2 < high


def test_step_costs_are_measured_by_rows_and_estimated_between() -> None:
    costs = StepCosts()
    assert costs.time(1) is None
    costs.add(1, 0.010)
    assert costs.time(1) == pytest.approx(0.010)
    assert costs.time(3) == pytest.approx(0.020)  # one point: a row is half a step
    costs.add(2, 0.018)
    assert costs.time(4) == pytest.approx(0.034)  # along the last two: 8 ms a row
    costs.add(6, 0.030)
    assert costs.time(4) == pytest.approx(0.024)  # between 2 and 6
    assert costs.time(8) == pytest.approx(0.036)  # along 2..6: 3 ms a row
    for _ in range(20):  # a moving average: it follows the machine
        costs.add(1, 0.020)
    assert costs.time(1) == pytest.approx(0.020, rel=0.02)


def _costs(base: float, per_row: float) -> StepCosts:
    costs = StepCosts()
    for rows in range(1, 10):
        costs.add(rows, base + per_row * (rows - 1))
    return costs


def test_drafts_are_planned_only_while_they_pay_for_their_rows() -> None:
    cpu = _costs(0.010, 0.005)  # a row more costs half a step
    # a sequence whose drafts always come true sends all it has
    assert plan_drafts([(1.0, 8)], 1, cpu, room=100) == [8]
    # at 95 %, a few: each further one is less likely to be reached
    assert 2 <= plan_drafts([(0.95, 8)], 1, cpu, room=100)[0] < 8
    # at 50 %, none: half a token expected for half a step's cost
    assert plan_drafts([(0.5, 8)], 1, cpu, room=100) == [0]
    # when a row costs 90 % of a step (this CPU at long context), only certainty pays
    slow = _costs(0.010, 0.009)
    assert plan_drafts([(0.9, 8)], 1, slow, room=100) == [0]
    assert plan_drafts([(1.0, 8)], 1, slow, room=100) == [8]
    # when rows are nearly free (a GPU), even 50 % pays
    gpu = _costs(0.010, 0.0002)
    assert plan_drafts([(0.5, 8)], 1, gpu, room=100)[0] >= 2
    # drafts go to the sequence most likely to be right, within the room
    assert plan_drafts([(0.5, 8), (1.0, 8)], 2, cpu, room=3) == [0, 3]
    # before any step is measured, nothing is sent
    assert plan_drafts([(1.0, 8)], 1, StepCosts(), room=100) == [0]


def _load(speculative: str, parallel: int = 2) -> GgufModel:
    return GgufModel.load(
        LoadContext(
            name="smollm2",
            path=smollm2_gguf(),
            options=GgufOptions(n_ctx=1024, n_threads=2, speculative=speculative),  # type: ignore[arg-type]
            parallel=parallel,
        )
    )


class PinnedCosts(StepCosts):
    """Step costs as on a machine where a row more costs a fifth of a step, whatever
    this one measures: whether drafts are sent then depends on acceptance alone, so
    the tests do not depend on the machine's speed (the planning is tested above)."""

    def __init__(self) -> None:
        super().__init__()
        for rows in range(1, 10):
            super().add(rows, 0.010 + 0.002 * (rows - 1))

    def add(self, rows: int, seconds: float) -> None:
        pass


@pytest.fixture(scope="module")
def on() -> GgufModel:
    loaded = _load("prompt-lookup")
    assert loaded.scheduler is not None
    loaded.scheduler.costs = PinnedCosts()
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def off() -> GgufModel:
    loaded = _load("off")
    yield loaded
    loaded.close()


def _request(text: str, **sampling: float | int) -> ChatRequest:
    return ChatRequest(
        model="smollm2",
        messages=(Message(role="user", content=text),),
        sampling=Sampling(max_tokens=120, **sampling),  # type: ignore[arg-type]
    )


async def _text(model: GgufModel, request: ChatRequest) -> tuple[str, str, int]:
    """The text, finish reason and completion tokens (what was cached may differ)."""
    text, finish = await chat_text(model, request)
    return text, finish.reason, finish.usage.completion_tokens


def _counts(model: GgufModel) -> tuple[int, int]:
    assert model.scheduler is not None
    return model.scheduler.drafted, model.scheduler.accepted


def test_greedy_output_is_the_same_with_drafts_on_and_off(on: GgufModel, off: GgufModel) -> None:
    """A request that quotes its prompt: with speculation on, drafts are sent and most are
    taken, and the text, token count and finish are those of the same model without."""
    request = _request(QUOTE, temperature=0.0)
    drafted, accepted = _counts(on)
    with_drafts = asyncio.run(_text(on, request))
    drafted, accepted = (n - m for n, m in zip(_counts(on), (drafted, accepted), strict=True))
    without = asyncio.run(_text(off, request))
    assert with_drafts == without
    assert _counts(off) == (0, 0)
    assert drafted >= 20 and accepted >= drafted * 0.6, (drafted, accepted)
    assert without[2] > accepted  # (a draft is a generated token)


def test_seeded_sampling_is_the_same_with_drafts_on_and_off(on: GgufModel, off: GgufModel) -> None:
    """Each token is still one draw of the sequence's own sampler: a seeded request at
    temperature 0.7 writes the same text with drafts as without."""
    request = _request(QUOTE, temperature=0.7, seed=11)
    before = _counts(on)[1]
    assert asyncio.run(_text(on, request)) == asyncio.run(_text(off, request))
    assert _counts(on)[1] > before, "no draft was taken: the test proves nothing"


def test_batched_sequences_with_drafts_write_what_each_writes_alone(
    on: GgufModel, off: GgufModel
) -> None:
    """Two quoting requests and a story at once on a model with two slots (the third
    waits): each sequence's text is what it is alone without drafts."""
    requests = [
        _request(QUOTE, temperature=0.0),
        _request(f"{DOCUMENT}\nCopy the paragraph about the museum.", temperature=0.0),
        _request("Write a story about a clockmaker.", temperature=0.0),
    ]
    alone = [asyncio.run(_text(off, r))[0] for r in requests]

    async def together() -> list[str]:
        return [t for t, _, _ in await asyncio.gather(*(_text(on, r) for r in requests))]

    assert asyncio.run(together()) == alone


def test_drafts_stop_a_stop_sequence_and_max_tokens_where_they_would(
    on: GgufModel, off: GgufModel
) -> None:
    """A budget or stop sequence reached in the middle of accepted drafts ends the text
    exactly there, and the slot's cache holds only tokens that were taken."""
    for sampling in ({"max_tokens": 37}, {"max_tokens": 120, "stop": ["four acres"]}):
        request = ChatRequest(
            model="smollm2",
            messages=(Message(role="user", content=QUOTE),),
            sampling=Sampling(temperature=0.0, **sampling),  # type: ignore[arg-type]
        )
        assert asyncio.run(_text(on, request)) == asyncio.run(_text(off, request))
    # the next turn reuses the cached conversation and still matches
    follow = _request(QUOTE + "\n\nAnd once more.", temperature=0.0)
    assert asyncio.run(_text(on, follow)) == asyncio.run(_text(off, follow))


def test_text_that_does_not_repeat_itself_sends_few_drafts(on: GgufModel) -> None:
    """A short story: proposals that keep failing switch drafting off for the sequence."""
    assert on.scheduler is not None
    drafted = on.scheduler.drafted
    _, _, tokens = asyncio.run(
        _text(on, _request("Write a poem about the sea at night.", temperature=1.0, seed=3))
    )
    assert tokens >= 60
    assert on.scheduler.drafted - drafted < tokens // 2


def test_a_cancelled_sequence_with_drafts_leaves_cleanly(on: GgufModel) -> None:
    """A client gone in the middle of a drafting sequence: the slot serves the same
    request next with the same text."""
    request = _request(QUOTE, temperature=0.0)

    async def partial() -> None:
        events = on.chat(request)
        count = 0
        async for event in events:
            count += isinstance(event, TextDelta)
            if count == 10:
                break
        await events.aclose()  # (as the server does when the client hangs up)

    whole = asyncio.run(_text(on, request))
    asyncio.run(partial())
    assert asyncio.run(_text(on, request)) == whole
