"""Core events and results → OpenAI response objects and SSE frames."""

from __future__ import annotations

import array
import base64
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from modelport.core import types as core
from modelport.core.generation import Collected, token_offsets

from .errors import envelope, error_body
from .objects import (
    ChatChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChatMessage,
    ChunkChoice,
    Completion,
    CompletionChoice,
    Delta,
    Embedding,
    EmbeddingList,
    EmbeddingUsage,
    PromptTokensDetails,
    ToolCallDelta,
    ToolCallDeltaFunction,
    ToolCallFunction,
    ToolCallOut,
    UsageOut,
)

__all__ = [
    "DONE",
    "Meta",
    "chat_chunks",
    "chat_completion",
    "completion",
    "completion_chunks",
    "embedding_list",
    "sse",
]

DONE = b"data: [DONE]\n\n"
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True)
class Meta:
    """What every object of one response shares."""

    prefix: str
    model: str
    fingerprint: str
    id: str = ""
    created: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", f"{self.prefix}-{uuid.uuid4().hex}")


def usage_out(prompt: int, completion: int, cached: int = 0) -> UsageOut:
    return UsageOut(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=cached),
    )


def frame(obj: object) -> bytes:
    return b"data: " + _encoder.encode(obj) + b"\n\n"


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


def _completion_logprobs(items: Sequence[core.TokenLogprob], offsets: list[int]) -> dict[str, Any]:
    return {
        "tokens": [t.token for t in items],
        "token_logprobs": [t.logprob for t in items],
        "top_logprobs": [{a.token: a.logprob for a in t.top} for t in items],
        "text_offset": offsets,
    }


def _total(results: list[Collected], n: int) -> UsageOut:
    """Every choice's completion; each prompt (the first of its ``n`` choices) once."""
    firsts = [r.usage for i, r in enumerate(results) if i % n == 0]
    return usage_out(
        sum(u.prompt_tokens for u in firsts),
        sum(r.usage.completion_tokens for r in results),
        sum(u.cached_tokens for u in firsts),
    )


def _message(result: Collected) -> ChatMessage:
    if not result.tool_calls:
        return ChatMessage(content=result.text)
    calls = [
        ToolCallOut(id=c.id, function=ToolCallFunction(name=c.name, arguments=c.arguments))
        for c in result.tool_calls
    ]
    return ChatMessage(content=result.text or None, tool_calls=calls)


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


def chat_completion(meta: Meta, results: list[Collected], *, logprobs: bool = False) -> bytes:
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
            usage=_total(results, len(results)),
        )
    )


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
            usage=_total(results, n),
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
    prompt, completion_tokens, cached = 0, 0, 0
    async for index, event in choices:
        if isinstance(event, core.Started):
            prompt = prompt or event.prompt_tokens
            delta = Delta(role="assistant", content="")
            yield _chat_chunk(meta, [ChunkChoice(index=index, delta=delta)], include_usage)
        elif isinstance(event, core.TextDelta) and (event.text or event.logprobs):
            lp = _chat_logprobs(event.logprobs) if logprobs else None
            choice = ChunkChoice(index=index, delta=Delta(content=event.text), logprobs=lp)
            yield _chat_chunk(meta, [choice], include_usage)
        elif isinstance(event, core.ToolCallDelta):
            delta = Delta(tool_calls=[_tool_delta(event)])
            yield _chat_chunk(meta, [ChunkChoice(index=index, delta=delta)], include_usage)
        elif isinstance(event, core.Finish):
            completion_tokens += event.usage.completion_tokens
            if index == 0:
                cached = event.usage.cached_tokens
            choice = ChunkChoice(index=index, delta=Delta(), finish_reason=event.reason)
            yield _chat_chunk(meta, [choice], include_usage)
    if include_usage:
        yield _chat_chunk(meta, [], True, usage_out(prompt, completion_tokens, cached))


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


async def sse(frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Terminate a stream with ``[DONE]``; a failure mid-stream becomes one error frame."""
    try:
        async for chunk in frames:
            yield chunk
    except Exception as exc:  # noqa: BLE001 - reported to the client in-band, and logged
        _, body, _ = error_body(exc)
        yield b"data: " + envelope(body) + b"\n\n"
    finally:
        close = getattr(frames, "aclose", None)
        if close is not None:
            await close()
    yield DONE


def embedding_list(model: str, result: core.EmbedResult, encoding: str) -> bytes:
    data: list[Embedding] = []
    for i, vec in enumerate(result.vectors):
        if encoding == "base64":
            raw = array.array("f", vec).tobytes()
            data.append(Embedding(index=i, embedding=base64.b64encode(raw).decode("ascii")))
        else:
            data.append(Embedding(index=i, embedding=vec))
    return _encoder.encode(
        EmbeddingList(
            data=data,
            model=model,
            usage=EmbeddingUsage(
                prompt_tokens=result.prompt_tokens, total_tokens=result.prompt_tokens
            ),
        )
    )
