"""Core events and results to response objects and SSE frames."""

from __future__ import annotations

import array
import base64

import msgspec

from modelport.core import types as core

from .objects import (
    Embedding,
    EmbeddingList,
    EmbeddingUsage,
)

__all__ = ["embedding_list"]


_encoder = msgspec.json.Encoder()


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
