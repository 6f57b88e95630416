"""Core events and results → OpenAI response objects and SSE frames."""

from __future__ import annotations

import array
import base64
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

import msgspec

from modelport.core import types as core
from modelport.core.generation import Collected

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


def usage_out(usage: core.Usage) -> UsageOut:
    return UsageOut(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
    )


def _sum(usages: Iterable[core.Usage]) -> core.Usage:
    items = list(usages)
    return core.Usage(
        prompt_tokens=sum(u.prompt_tokens for u in items),
        completion_tokens=sum(u.completion_tokens for u in items),
    )


def frame(obj: object) -> bytes:
    return b"data: " + _encoder.encode(obj) + b"\n\n"


def chat_completion(meta: Meta, results: list[Collected]) -> bytes:
    choices = [
        ChatChoice(index=i, message=ChatMessage(content=r.text), finish_reason=r.reason)
        for i, r in enumerate(results)
    ]
    return _encoder.encode(
        ChatCompletion(
            id=meta.id,
            created=meta.created,
            model=meta.model,
            system_fingerprint=meta.fingerprint,
            choices=choices,
            usage=usage_out(_sum(r.usage for r in results)),
        )
    )


def completion(meta: Meta, results: list[Collected]) -> bytes:
    choices = [
        CompletionChoice(text=r.text, index=i, finish_reason=r.reason)
        for i, r in enumerate(results)
    ]
    return _encoder.encode(
        Completion(
            id=meta.id,
            created=meta.created,
            model=meta.model,
            system_fingerprint=meta.fingerprint,
            choices=choices,
            usage=usage_out(_sum(r.usage for r in results)),
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
    meta: Meta, events: AsyncIterator[core.ChatEvent], include_usage: bool
) -> AsyncIterator[bytes]:
    """SSE frames of one chat choice: role, content deltas, finish, then usage."""
    yield _chat_chunk(
        meta, [ChunkChoice(index=0, delta=Delta(role="assistant", content=""))], include_usage
    )
    async for event in events:
        if isinstance(event, core.TextDelta) and event.text:
            yield _chat_chunk(
                meta, [ChunkChoice(index=0, delta=Delta(content=event.text))], include_usage
            )
        elif isinstance(event, core.Finish):
            yield _chat_chunk(
                meta,
                [ChunkChoice(index=0, delta=Delta(), finish_reason=event.reason)],
                include_usage,
            )
            if include_usage:
                yield _chat_chunk(meta, [], True, usage_out(event.usage))


def _completion_chunk(
    meta: Meta, choices: list[CompletionChoice], include_usage: bool, usage: UsageOut | None = None
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
    meta: Meta, streams: AsyncIterator[tuple[int, core.ChatEvent]], include_usage: bool
) -> AsyncIterator[bytes]:
    """SSE frames for completions; ``streams`` yields (choice index, event)."""
    total: list[core.Usage] = []
    async for index, event in streams:
        if isinstance(event, core.TextDelta) and event.text:
            yield _completion_chunk(
                meta,
                [CompletionChoice(text=event.text, index=index, finish_reason=None)],
                include_usage,
            )
        elif isinstance(event, core.Finish):
            total.append(event.usage)
            yield _completion_chunk(
                meta,
                [CompletionChoice(text="", index=index, finish_reason=event.reason)],
                include_usage,
            )
    if include_usage:
        yield _completion_chunk(meta, [], True, usage_out(_sum(total)))


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
