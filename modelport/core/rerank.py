"""Reranking (``/v1/rerank``): how relevant each document is to a query.

A backend serves it with a model made for it (a cross-encoder, a GGUF reranker with
rank pooling), or core serves it for any embedding model declared so in plugins.toml
(``rerank = "embeddings"``): the cosine similarity of the query's vector and each
document's, from one embedding call.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence

from .types import EmbedRequest, EmbedResult, _Value

__all__ = ["RerankRequest", "RerankResult", "rerank_by_embeddings"]


class RerankRequest(_Value, frozen=True, kw_only=True):
    model: str
    query: str
    documents: tuple[str, ...]


class RerankResult(_Value, frozen=True, kw_only=True):
    """One score per document, in the documents' order (higher: more relevant)."""

    scores: tuple[float, ...]
    prompt_tokens: int = 0


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


async def rerank_by_embeddings(
    request: RerankRequest, embed: Callable[[EmbedRequest], Awaitable[EmbedResult]]
) -> RerankResult:
    """Scores from an embedding model: the query's and every document's vector in one
    call, each document scored by its cosine similarity to the query."""
    result = await embed(
        EmbedRequest(model=request.model, inputs=(request.query, *request.documents))
    )
    query, *documents = result.vectors
    return RerankResult(
        scores=tuple(_cosine(query, d) for d in documents), prompt_tokens=result.prompt_tokens
    )
