"""Speculative decoding without a second model: prompt lookup.

A sequence that quotes its context (extracting from a document, editing code, repeating a
list) often goes on the way an earlier passage went on. The drafter finds the longest
recent n-gram (4 down to 2 tokens) that ends the sequence so far and also occurs earlier
in it, and proposes the tokens that followed that earlier occurrence. The scheduler puts
the proposals in the step's call after the sequence's token, with logits for every row,
and samples the rows in order: as long as the sampled token equals the next draft, that
draft's KV (written by the same call) is right and its row's logits are the next token's.
The first mismatch ends it; its cells are removed. Each accepted draft is a token gained
for one row of the call.

Nothing about the output changes. Each row is sampled with the sequence's own sampler
chain, one sample per token as without drafts (so a seeded request draws the same random
numbers), from logits that do not depend on what else the call holds (see batched.py).
So greedy and seeded output is the same with speculation on and off.

Whether a draft is worth its row is a matter of cost: on a GPU one more row in a call
costs almost nothing; on a 2-core CPU it costs most of a one-row step (measured: 0.5 to
0.9, more at long context, where each row's attention reads the whole KV). ``StepCosts``
keeps the time of a decode step by its rows from the steps just run, and each drafter
keeps the rate
at which its sequence's drafts were accepted, learned also from proposals that were not
sent (the sampled token tells whether the first draft would have been right). The
scheduler adds a draft only while it raises the step's expected tokens per second (see
``plan_drafts``): text that does not repeat itself gets none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["Drafter", "StepCosts", "plan_drafts"]

# Longest and shortest n-gram looked up; the acceptance a new sequence starts from (drafts
# are not sent until its own proposals have been seen to come true); how fast it follows
# the latest observations.
NGRAM_MAX = 4
NGRAM_MIN = 2
PRIOR_ACCEPTANCE = 0.5
ACCEPTANCE_WEIGHT = 0.15
# How much a draft must raise a step's expected tokens per second to be sent.
MARGIN = 0.05


class Drafter:
    """One sequence's n-gram index and draft acceptance rate."""

    def __init__(self, tokens: Iterable[int]):
        self.context: list[int] = []
        self._index: dict[tuple[int, ...], int] = {}  # n-gram -> end of its latest occurrence
        self._match = 0  # where the continuation after the suffix's earlier occurrence starts
        self.acceptance = PRIOR_ACCEPTANCE
        self.guess: int | None = None  # the first draft on offer when the step was planned
        self.extend(tokens)

    def extend(self, tokens: Iterable[int]) -> None:
        """Tokens the sequence has taken (its prompt, then each sampled token)."""
        context, index = self.context, self._index
        for token in tokens:
            context.append(token)
            end = len(context)
            self._match = 0
            for n in range(NGRAM_MAX, NGRAM_MIN - 1, -1):
                if end < n:
                    continue
                key = tuple(context[end - n : end])
                earlier = index.get(key)
                if earlier is not None and not self._match:
                    self._match = earlier
                index[key] = end

    def propose(self, limit: int) -> list[int]:
        """Up to ``limit`` tokens that followed the latest earlier occurrence of the
        longest n-gram the sequence now ends with (none if no such n-gram occurred)."""
        if not self._match or limit <= 0:
            return []
        return self.context[self._match : self._match + limit]

    def observe(self, hits: int, tries: int) -> None:
        """``tries`` drafts were checked against sampled tokens, the first ``hits`` right
        (a miss ends a check, so at most one of them failed)."""
        for i in range(tries):
            self.acceptance += ACCEPTANCE_WEIGHT * ((i < hits) - self.acceptance)


class StepCosts:
    """A decode-only step's time by its rows: a moving average for each row count run.
    A count not run yet is estimated from the measured ones (linearly between the two
    nearest, or along the last two beyond them); with only one measured, a row more is
    taken to cost ``prior`` of a one-row step (about what it costs on a CPU)."""

    def __init__(self, weight: float = 0.2, prior: float = 0.5):
        self.weight = weight
        self.prior = prior
        self.seconds: dict[int, float] = {}

    def add(self, rows: int, seconds: float) -> None:
        old = self.seconds.get(rows)
        self.seconds[rows] = seconds if old is None else old + self.weight * (seconds - old)

    def time(self, rows: int) -> float | None:
        """The expected time of a step of ``rows`` rows (None before any step)."""
        known = self.seconds
        if rows in known or not known:
            return known.get(rows)
        lower = [r for r in known if r < rows]
        upper = [r for r in known if r > rows]
        if not lower:  # fewer rows than any measured
            return self._prior_from(min(upper), rows)
        if upper:  # between two measured counts
            a, b = max(lower), min(upper)
        elif len(lower) == 1:  # only one count measured
            return self._prior_from(lower[0], rows)
        else:  # more rows than any measured: along the last two
            a, b = sorted(lower)[-2:]
        slope = max((known[b] - known[a]) / (b - a), 0.0)
        return known[a] + slope * (rows - a)

    def _prior_from(self, r0: int, rows: int) -> float:
        """``rows`` rows' time from ``r0``'s, a row costing ``prior`` of a one-row step."""
        return self.seconds[r0] * (1 + self.prior * (rows - 1)) / (1 + self.prior * (r0 - 1))


def plan_drafts(
    offers: Sequence[tuple[float, int]], rows: int, costs: StepCosts, room: int
) -> list[int]:
    """How many drafts each sequence sends with a step of ``rows`` sampled tokens: for
    each offer (its acceptance rate, proposals on hand), draft ``i`` is accepted with
    probability ``rate ** i`` (every one before it must be). Drafts are added best first
    while the step's expected tokens per second grows, within ``room`` rows; the plan is
    kept only if it raises them by ``MARGIN`` at least (the estimates are noisy: drafts
    that might pay are not worth the risk)."""
    counts = [0] * len(offers)
    if costs.time(rows) is None:
        return counts
    first, tokens = rows, float(rows)
    while room > 0:
        gain, best = max(
            ((rate ** (counts[i] + 1), i) for i, (rate, n) in enumerate(offers) if counts[i] < n),
            default=(0.0, -1),
        )
        if best < 0:
            break
        now, after = costs.time(rows), costs.time(rows + 1)
        assert now is not None and after is not None
        if (tokens + gain) / after <= tokens / now:
            break
        counts[best] += 1
        tokens += gain
        rows += 1
        room -= 1
    base, planned = costs.time(first), costs.time(rows)
    assert base is not None and planned is not None
    if tokens / planned < (1 + MARGIN) * first / base:
        return [0] * len(offers)
    return counts
