"""The gguf backend's thinking follower: when it forces the end marker (a spent budget,
effort none on a block the template opened) and when a grammar may start."""

from __future__ import annotations

from modelport.backends.gguf.thinking import Phased, ThinkingFollower
from modelport.plugin import Thinking


def _follower(limit: int | None, opened: bool = True) -> ThinkingFollower:
    thinking = Thinking(start="<think>", end="</think>", opened=opened, budget=limit)
    return ThinkingFollower(thinking, end_tokens=[7, 8])


def test_the_follower_forces_the_end_marker_once_the_budget_is_spent() -> None:
    follower = _follower(2)
    assert follower.first() == []
    assert follower.feed("Paris") == []
    assert follower.feed(" is") == [7, 8]  # two thinking tokens: close now
    assert follower.feed("</") == []  # (the forced tokens are followed, not forced again)
    assert not follower.answering
    assert follower.feed("think>") == [] and follower.answering


def test_the_follower_closes_an_opened_block_before_anything_with_no_budget() -> None:
    assert _follower(0).first() == [7, 8]
    assert _follower(None).feed("a long thought") == []  # no limit
    unopened = _follower(0, opened=False)
    assert unopened.first() == [] and unopened.feed("Hello") == []  # it answered
    thinking = _follower(1, opened=False)
    assert thinking.feed("<think>") == [7, 8]  # the start marker is its first token


def test_before_a_block_only_its_start_or_whitespace_keeps_the_output_free() -> None:
    follower = _follower(None, opened=False)
    assert follower.may_open("  ") and follower.may_open("<th") and follower.may_open("<think>")
    assert not follower.may_open("{") and not follower.may_open("Hello")
    follower.feed("<think>")
    assert not follower.may_open(" ")  # inside the block: free anyway, nothing to decide


class _Chain:
    """A sampler chain that always picks ``token`` and counts its calls."""

    def __init__(self, token: int):
        self.token, self.calls = token, 0

    def sample(self, ctx: object, row: int) -> int:
        self.calls += 1
        return self.token

    def close(self) -> None:
        pass


def test_the_grammar_takes_over_for_an_answer_that_starts_at_once() -> None:
    text = {1: "Hello", 2: "{", 3: "<think>"}
    free, bound = _Chain(1), _Chain(2)
    follower = _follower(None, opened=False)
    phased = Phased(free, bound, follower, text.__getitem__)
    assert phased.sample(None, 0) == 2  # "Hello" would answer unbound: the grammar decides
    thinking = _follower(None, opened=False)
    opener = Phased(_Chain(3), bound, thinking, text.__getitem__)
    assert opener.sample(None, 0) == 3  # it opens a block: thinking is free
    thinking.feed("<think>")
    assert opener.sample(None, 0) == 3
    thinking.feed("why</think>")
    assert opener.sample(None, 0) == 2  # past the block: bound
