"""Core events and results to response objects and SSE frames."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import msgspec

from modelport.core import types as core
from modelport.core.generation import Collected

from ..common import (
    Meta,
    UsageOut,
    frame,
    total_usage,
    usage_out,
)
from .objects import (
    ChatChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChatMessage,
    ChunkChoice,
    Delta,
    ToolCallDelta,
    ToolCallDeltaFunction,
    ToolCallFunction,
    ToolCallOut,
)

__all__ = ["chat_chunks", "chat_completion"]


_encoder = msgspec.json.Encoder()


def _chat_logprobs(items: Iterable[core.TokenLogprob]) -> dict[str, Any]:
    return {
        "content": [
            {
                "token": t.token,
                "logprob": t.logprob,
                "bytes": list(t.bytes or ()),
                "top_logprobs": [
                    {"token": a.token, "logprob": a.logprob, "bytes": list(a.bytes or ())}
                    for a in t.top
                ],
            }
            for t in items
        ],
        "refusal": None,
    }


def _message(result: Collected) -> ChatMessage:
    thinking = result.reasoning or msgspec.UNSET
    if not result.tool_calls:
        return ChatMessage(content=result.text, reasoning_content=thinking, reasoning=thinking)
    calls = [
        ToolCallOut(id=c.id, function=ToolCallFunction(name=c.name, arguments=c.arguments))
        for c in result.tool_calls
    ]
    return ChatMessage(
        content=result.text or None,
        tool_calls=calls,
        reasoning_content=thinking,
        reasoning=thinking,
    )


def _tool_delta(event: core.ToolCallDelta) -> ToolCallDelta:
    if event.id is not None:
        return ToolCallDelta(
            index=event.index,
            id=event.id,
            type="function",
            function=ToolCallDeltaFunction(name=event.name or "", arguments=event.arguments),
        )
    return ToolCallDelta(
        index=event.index, function=ToolCallDeltaFunction(arguments=event.arguments)
    )


def chat_completion(
    meta: Meta,
    results: list[Collected],
    *,
    logprobs: bool = False,
    metadata: dict[str, str] | None = None,
) -> bytes:
    choices = [
        ChatChoice(
            index=i,
            message=_message(r),
            finish_reason=r.reason,
            logprobs=_chat_logprobs(r.logprobs) if logprobs else None,
        )
        for i, r in enumerate(results)
    ]
    return _encoder.encode(
        ChatCompletion(
            id=meta.id,
            created=meta.created,
            model=meta.model,
            system_fingerprint=meta.fingerprint,
            choices=choices,
            usage=total_usage(results, len(results)),
            metadata=metadata if metadata is not None else msgspec.UNSET,
        )
    )


def _chat_chunk(
    meta: Meta, choices: list[ChunkChoice], include_usage: bool, usage: UsageOut | None = None
) -> bytes:
    return frame(
        ChatCompletionChunk(
            id=meta.id,
            created=meta.created,
            model=meta.model,
            system_fingerprint=meta.fingerprint,
            choices=choices,
            usage=usage if include_usage else msgspec.UNSET,
        )
    )


async def chat_chunks(
    meta: Meta,
    choices: AsyncIterator[tuple[int, core.ChatEvent]],
    include_usage: bool,
    *,
    logprobs: bool = False,
) -> AsyncIterator[bytes]:
    """SSE frames: per choice a role chunk, content deltas and a finish chunk; then usage."""
    prompt, completion_tokens, cached, reasoning = 0, 0, 0, 0
    async for index, event in choices:
        if isinstance(event, core.Started):
            prompt = prompt or event.prompt_tokens
            delta = Delta(role="assistant", content="")
            yield _chat_chunk(meta, [ChunkChoice(index=index, delta=delta)], include_usage)
        elif isinstance(event, core.TextDelta) and (event.text or event.logprobs):
            lp = _chat_logprobs(event.logprobs) if logprobs else None
            choice = ChunkChoice(index=index, delta=Delta(content=event.text), logprobs=lp)
            yield _chat_chunk(meta, [choice], include_usage)
        elif isinstance(event, core.ReasoningDelta) and event.text:
            delta = Delta(reasoning_content=event.text, reasoning=event.text)
            yield _chat_chunk(meta, [ChunkChoice(index=index, delta=delta)], include_usage)
        elif isinstance(event, core.ToolCallDelta):
            delta = Delta(tool_calls=[_tool_delta(event)])
            yield _chat_chunk(meta, [ChunkChoice(index=index, delta=delta)], include_usage)
        elif isinstance(event, core.Finish):
            completion_tokens += event.usage.completion_tokens
            reasoning += event.usage.reasoning_tokens
            if index == 0:
                cached = event.usage.cached_tokens
            choice = ChunkChoice(index=index, delta=Delta(), finish_reason=event.reason)
            yield _chat_chunk(meta, [choice], include_usage)
    if include_usage:
        usage = usage_out(prompt, completion_tokens, cached, reasoning)
        yield _chat_chunk(meta, [], True, usage)
