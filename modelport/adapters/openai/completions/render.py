"""Core events and results to response objects and SSE frames."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec

from modelport.core import types as core
from modelport.core.generation import Collected, token_offsets

from ..common import (
    Meta,
    UsageOut,
    frame,
    total_usage,
    usage_out,
)
from .objects import (
    Completion,
    CompletionChoice,
)

__all__ = ["completion", "completion_chunks"]


_encoder = msgspec.json.Encoder()


def _completion_logprobs(items: Sequence[core.TokenLogprob], offsets: list[int]) -> dict[str, Any]:
    return {
        "tokens": [t.token for t in items],
        "token_logprobs": [t.logprob for t in items],
        "top_logprobs": [{a.token: a.logprob for a in t.top} for t in items],
        "text_offset": offsets,
    }


def completion(
    meta: Meta, results: list[Collected], *, n: int = 1, logprobs: bool = False
) -> bytes:
    choices = [
        CompletionChoice(
            text=r.text,
            index=i,
            finish_reason=r.reason,
            logprobs=_completion_logprobs(r.logprobs, r.offsets) if logprobs else None,
        )
        for i, r in enumerate(results)
    ]
    return _encoder.encode(
        Completion(
            id=meta.id,
            created=meta.created,
            model=meta.model,
            system_fingerprint=meta.fingerprint,
            choices=choices,
            usage=total_usage(results, n),
        )
    )


def _completion_chunk(
    meta: Meta, choices: list[CompletionChoice], usage: UsageOut | None = None
) -> bytes:
    return frame(
        Completion(
            id=meta.id,
            created=meta.created,
            model=meta.model,
            system_fingerprint=meta.fingerprint,
            choices=choices,
            usage=usage if usage is not None else msgspec.UNSET,
        )
    )


async def completion_chunks(
    meta: Meta,
    choices: AsyncIterator[tuple[int, core.ChatEvent]],
    include_usage: bool,
    *,
    n: int = 1,
    logprobs: bool = False,
) -> AsyncIterator[bytes]:
    """SSE frames for completions; ``choices`` yields (choice index, event)."""
    prompts: list[int] = []
    completion_tokens, cached, offsets = 0, 0, dict[int, int]()  # text offset per choice
    async for index, event in choices:
        if isinstance(event, core.Started):
            offsets[index] = 0
            if index % n == 0:
                prompts.append(event.prompt_tokens)
        elif isinstance(event, core.TextDelta) and (event.text or event.logprobs):
            offset = offsets.get(index, 0)
            lp = None
            if logprobs:
                lp = _completion_logprobs(event.logprobs, token_offsets(event.logprobs, offset))
            offsets[index] = offset + len(event.text)
            yield _completion_chunk(
                meta,
                [CompletionChoice(text=event.text, index=index, finish_reason=None, logprobs=lp)],
            )
        elif isinstance(event, core.Finish):
            completion_tokens += event.usage.completion_tokens
            if index % n == 0:
                cached += event.usage.cached_tokens
            yield _completion_chunk(
                meta, [CompletionChoice(text="", index=index, finish_reason=event.reason)]
            )
    if include_usage:
        yield _completion_chunk(meta, [], usage_out(sum(prompts), completion_tokens, cached))
