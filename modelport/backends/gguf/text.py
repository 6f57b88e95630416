"""Generated tokens → text deltas: incremental UTF-8 decoding, stop sequences, logprobs."""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from typing import Any

from modelport.plugin import (
    Emit,
    Finish,
    FinishReason,
    StopCutter,
    TextDelta,
    TokenLogprob,
    TopLogprob,
    Usage,
)

from .engine import Step

__all__ = ["TextOut"]


class TextOut:
    """Turns each sampled token into text deltas with the count of tokens (and their
    logprobs) each delta covers; ends with exactly one ``Finish``."""

    def __init__(self, llm: Any, prompt: Sequence[int], stops: Sequence[str], emit: Emit):
        self.llm = llm
        self.emit = emit
        self.prompt_tokens = len(prompt)
        self.context = list(prompt[-8:])
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.cutter = StopCutter(stops)
        self.generated = 0
        self.decoded = ""  # the last token's text
        self.pending = 0
        self.logprobs: list[TokenLogprob] = []

    def token_bytes(self, token: int) -> bytes:
        return bytes(self.llm.detokenize([token]))

    def token_logprob(self, step: Step) -> TokenLogprob:
        raw = self.token_bytes(step.token)
        top = []
        for token, logprob in step.top:
            alt = self.token_bytes(token)
            top.append(
                TopLogprob(
                    token=alt.decode("utf-8", errors="replace"), logprob=logprob, bytes=tuple(alt)
                )
            )
        return TokenLogprob(
            token=raw.decode("utf-8", errors="replace"),
            logprob=step.logprob or 0.0,
            bytes=tuple(raw),
            top=tuple(top),
        )

    def feed(self, step: Step) -> bool:
        """Emit the token's text; True once a stop sequence was reached."""
        self.generated += 1
        self.pending += 1
        if step.logprob is not None:
            self.logprobs.append(self.token_logprob(step))
        piece = self.llm.detokenize([step.token], prev_tokens=self.context)
        self.context = [*self.context[-7:], step.token]
        self.decoded = self.decoder.decode(piece)  # (before stop sequences are cut)
        text = self.cutter.feed(self.decoded)
        if text:
            self._emit(text)
        return self.cutter.stopped

    def _emit(self, text: str) -> None:
        self.emit(TextDelta(text=text, tokens=self.pending, logprobs=tuple(self.logprobs)))
        self.pending = 0
        self.logprobs = []

    def finish(self, reason: FinishReason, cached: int = 0) -> None:
        """The last text and ``Finish``; ``cached``: prompt tokens taken from the KV cache."""
        tail = ""
        if not self.cutter.stopped:
            tail = self.cutter.feed(self.decoder.decode(b"", final=True)) + self.cutter.flush()
        if tail or self.pending:
            self._emit(tail)
        usage = Usage(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.generated,
            cached_tokens=cached,
        )
        self.emit(Finish(reason=reason, usage=usage, stop_sequence=self.cutter.matched))
