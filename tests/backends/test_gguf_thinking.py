"""The gguf backend's thinking follower: when it forces the end marker (a spent budget,
effort none on a block the template opened) and when a grammar may start."""

from __future__ import annotations

from modelport.backends.gguf.thinking import ThinkingFollower
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
