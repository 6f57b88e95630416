"""Embedding fallbacks shared by every embedding backend."""

from __future__ import annotations

import math

from .errors import InvalidRequest

__all__ = ["truncate_dimensions"]


def truncate_dimensions(vectors: list[list[float]], dimensions: int | None) -> list[list[float]]:
    """Matryoshka-style ``dimensions``: keep the first N values and renormalise to unit
    length (what OpenAI's text-embedding-3 models do)."""
    if dimensions is None or not vectors:
        return vectors
    size = len(vectors[0])
    if dimensions > size:
        raise InvalidRequest(
            f"dimensions {dimensions} is larger than the model's {size}", param="dimensions"
        )
    out = []
    for vec in vectors:
        head = vec[:dimensions]
        norm = math.sqrt(sum(x * x for x in head)) or 1.0
        out.append([x / norm for x in head])
    return out
