"""A reasoning model's thinking, followed token by token in the scheduler thread.

Core splits the thinking from the answer after the fact; a backend that declares
``Feature.REASONING`` must also act on it while generating (``ChatRequest.thinking``):

- when the thinking-token budget is spent and the block is still open, the end marker's
  tokens become the sequence's next tokens (forced instead of sampled, like llama-server's
  reasoning budget), so the model goes on to its answer;
- a grammar (tools, ``response_format``) binds the answer only: tokens are sampled
  without it until the end marker, and with it, from its start, after.

The follower reads the same text core's splitter reads, with the same
:class:`~modelport.plugin.ReasoningSplitter`, so both agree on where the thinking ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelport.plugin import ReasoningSplitter, Thinking

__all__ = ["Phased", "ThinkingFollower"]


class ThinkingFollower:
    """Counts a sequence's thinking tokens and says which tokens to force next."""

    def __init__(self, thinking: Thinking, end_tokens: list[int]):
        self.splitter = ReasoningSplitter(thinking.start, thinking.end, opened=thinking.opened)
        self.limit = thinking.limit
        self.end_tokens = end_tokens
        self.spent = 0
        self.closing = False

    @property
    def answering(self) -> bool:
        """Whether the output is past the thinking (a grammar applies from here)."""
        return self.splitter.state == "answer"

    def may_open(self, text: str) -> bool:
        """Whether ``text`` as the next token keeps the output where a block may still
        open (before anything else was written): whitespace, or the start marker's
        beginning."""
        if self.splitter.state != "before":
            return False
        start = self.splitter.start
        written = (self.splitter.pending + text).lstrip()
        return not written or written.startswith(start) or start.startswith(written)

    def first(self) -> list[int]:
        """The tokens to force before anything is sampled: the end marker when a block
        the template opened gets no thinking at all."""
        return self._close_if_spent()

    def feed(self, text: str) -> list[int]:
        """Follow one generated token's text; the tokens to force next."""
        self.splitter.feed(text)
        if self.splitter.touched:
            self.spent += 1
        return self._close_if_spent()

    def _close_if_spent(self) -> list[int]:
        if self.closing or not self.splitter.open:
            return []
        if self.limit is None or self.spent < self.limit:
            return []
        self.closing = True
        return list(self.end_tokens)


class Phased:
    """Two sampler chains: ``free`` while the model thinks, ``bound`` (with the grammar)
    once ``follower`` is past the end marker. The bound chain's grammar sees the answer's
    tokens only, from its start.

    Before a block that the template did not open, the model may start it or answer at
    once: a free token that begins the start marker (or is whitespace) is kept; any other
    is the answer's first, so it is sampled again, from the same logits, with the bound
    chain. ``text_of`` gives a token's text."""

    def __init__(
        self, free: Any, bound: Any, follower: ThinkingFollower, text_of: Callable[[int], str]
    ):
        self.free, self.bound, self.follower, self.text_of = free, bound, follower, text_of

    def sample(self, ctx: Any, row: int) -> int:
        if self.follower.answering:
            return int(self.bound.sample(ctx, row))
        token = int(self.free.sample(ctx, row))
        before = self.follower.splitter.state == "before"
        if before and not self.follower.may_open(self.text_of(token)):
            return int(self.bound.sample(ctx, row))
        return token

    def close(self) -> None:
        self.free.close()
        self.bound.close()
