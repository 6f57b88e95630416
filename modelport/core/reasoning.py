"""A model's thinking, parsed out of its output in core, beside tool parsing.

A reasoning model writes its thinking between a start and an end marker (``<think>`` and
``</think>`` for Qwen3, DeepSeek-R1 distills and SmolLM3) and then its answer; some chat
templates open the block themselves, so the output starts inside it. ``[models.reasoning]``
in plugins.toml says which. :func:`split_reasoning` turns a generation's text deltas into
:class:`~modelport.core.types.ReasoningDelta` events for the thinking and ordinary
``TextDelta`` events for the answer, before tool parsing and JSON checks see anything: they
only ever see the answer.

The split is streaming-safe: text that could be the beginning of a marker is held back
until the next delta decides it. A block that never closes makes all of the output
reasoning, with an empty answer and finish reason ``length``. Tokens of a delta that
reaches into the thinking (its marker included) count as reasoning tokens.

How long a model thinks is the request's ``reasoning_effort`` (or an exact
``reasoning_budget_tokens``): :func:`with_thinking` turns it into the request's
:class:`~modelport.core.types.Thinking`, which a backend that declares
``Feature.REASONING`` follows (it closes the block when the budget is spent, switches
thinking off for ``none``, and starts a grammar after the end marker).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

import msgspec

from .config import ReasoningConfig
from .errors import Unsupported
from .features import Feature
from .types import ChatEvent, ChatRequest, Finish, ReasoningDelta, TextDelta, Thinking

__all__ = ["ReasoningSplitter", "effective_reasoning", "split_reasoning", "with_thinking"]


def effective_reasoning(
    configured: ReasoningConfig | None, detected: ReasoningConfig | None
) -> ReasoningConfig | None:
    """A model's reasoning: ``[models.reasoning]`` when set (its switch detected from the
    template when it names none), else what the loaded model detected in its template."""
    if configured is None:
        return detected
    if configured.switch is None and detected is not None and detected.switch is not None:
        return msgspec.structs.replace(configured, switch=detected.switch)
    return configured


def with_thinking(
    request: ChatRequest, reasoning: ReasoningConfig | None, features: frozenset[Feature]
) -> ChatRequest:
    """``request`` with its ``thinking`` for the backend: the markers and the budget of
    its effort (or its exact budget, or the model's default effort).

    A model that does not reason takes effort ``none`` and refuses every other, by name.
    A reasoning model whose backend cannot follow the thinking (no ``Feature.REASONING``)
    refuses efforts and budgets, since it could not honour them; it still thinks, and
    core still splits the thinking from the answer.
    """
    effort, budget = request.reasoning_effort, request.reasoning_budget
    param = "reasoning_budget_tokens" if budget is not None else "reasoning_effort"
    asked = budget is not None or effort is not None
    if reasoning is None:
        if budget is not None or effort not in (None, "none"):
            raise Unsupported(
                f"model {request.model!r} does not reason, so it takes no {param} but 'none'",
                param=param,
            )
        return request
    if Feature.REASONING not in features:
        if asked:
            raise Unsupported(
                f"the backend of model {request.model!r} cannot bound or switch off its "
                f"thinking, so it cannot honour {param}",
                param=param,
            )
        return request
    if not asked:
        effort = reasoning.effort
    thinking = Thinking(
        start=reasoning.start,
        end=reasoning.end,
        opened=reasoning.opened_by_template,
        budget=budget if budget is not None else _budget(reasoning, effort),
        enabled=budget is not None or effort != "none",
        switch=reasoning.switch,
    )
    return msgspec.structs.replace(request, thinking=thinking)


def _budget(reasoning: ReasoningConfig, effort: str | None) -> int | None:
    if effort is None or effort == "none":
        return None if effort is None else 0
    budget: int | None = getattr(reasoning.budgets, effort)
    return budget


class ReasoningSplitter:
    """Splits a stream of text into (is_reasoning, text) pieces at the markers."""

    def __init__(self, start: str, end: str, *, opened: bool):
        self.start, self.end = start, end
        self.state = "thinking" if opened else "before"  # before → thinking → answer
        self.pending = ""
        self.touched = False

    @property
    def open(self) -> bool:
        """Whether the output is inside the thinking block now."""
        return self.state == "thinking"

    def feed(self, text: str) -> list[tuple[bool, str]]:
        """The pieces ``text`` decides (markers removed); a possible marker prefix at its
        end waits for the next call. ``touched`` tells whether ``text`` was (partly)
        inside the thinking block, its markers included."""
        self.touched = self.state == "thinking"
        self.pending += text
        out: list[tuple[bool, str]] = []
        while self.pending:
            if self.state == "answer":
                out.append((False, self.pending))
                self.pending = ""
            elif self.state == "before":
                stripped = self.pending.lstrip()
                if not stripped:
                    break  # only whitespace so far: it may precede the start marker
                if stripped.startswith(self.start):
                    self.pending = stripped[len(self.start) :]
                    self.state = "thinking"
                    self.touched = True
                elif self.start.startswith(stripped):
                    break  # a prefix of the start marker: wait
                else:
                    self.state = "answer"  # the model answered without thinking
            else:
                found = self.pending.find(self.end)
                if found >= 0:
                    if found:
                        out.append((True, self.pending[:found]))
                    self.pending = self.pending[found + len(self.end) :].lstrip("\n")
                    self.state = "answer"
                    if not self.pending:
                        break
                    continue
                keep = _marker_prefix(self.pending, self.end)
                if len(self.pending) > keep:
                    out.append((True, self.pending[: len(self.pending) - keep]))
                    self.pending = self.pending[len(self.pending) - keep :]
                break
        return out

    def flush(self) -> list[tuple[bool, str]]:
        """What is held back, at the end of the output."""
        text, self.pending = self.pending, ""
        if not text:
            return []
        return [(self.state == "thinking", text)]


def _marker_prefix(text: str, marker: str) -> int:
    """The length of the longest end of ``text`` that begins ``marker``."""
    for size in range(min(len(text), len(marker) - 1), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0


async def split_reasoning(
    events: AsyncIterator[ChatEvent], config: ReasoningConfig
) -> AsyncGenerator[ChatEvent, None]:
    """``events`` with the thinking as ``ReasoningDelta`` events, the answer as
    ``TextDelta`` events, and the reasoning tokens in the final usage."""
    splitter = ReasoningSplitter(config.start, config.end, opened=config.opened_by_template)
    reasoning_tokens = carried = 0
    try:
        async for event in events:
            if isinstance(event, TextDelta):
                pieces = splitter.feed(event.text)
                if splitter.touched:
                    reasoning_tokens += event.tokens
                tokens, carried = carried + event.tokens, 0
                if not pieces and splitter.touched:  # a marker: thinking, with no text
                    yield ReasoningDelta(text="", tokens=tokens)
                elif not pieces:
                    carried = tokens  # held back: counted with what follows
                for out in _events(pieces, event, tokens, splitter.touched):
                    yield out
            elif isinstance(event, Finish):
                for out in _events(splitter.flush(), None, carried, splitter.open):
                    yield out
                usage = msgspec.structs.replace(event.usage, reasoning_tokens=reasoning_tokens)
                if splitter.open:
                    yield Finish(reason="length", usage=usage)
                else:
                    yield msgspec.structs.replace(event, usage=usage)
            else:
                yield event
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()


def _events(
    pieces: list[tuple[bool, str]], source: TextDelta | None, tokens: int, reasoning: bool
) -> list[ChatEvent]:
    """The pieces of one delta as events. Its ``tokens`` go to the first piece (so the
    deltas still add up to the usage), its log-probabilities to the answer's piece."""
    out: list[ChatEvent] = []
    logprobs = source.logprobs if source is not None and not reasoning else ()
    for is_reasoning, text in pieces:
        if is_reasoning:
            out.append(ReasoningDelta(text=text, tokens=tokens))
        else:
            out.append(TextDelta(text=text, tokens=tokens, logprobs=logprobs))
        tokens = 0
    return out
