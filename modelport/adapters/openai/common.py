"""What every OpenAI route shares: the request type its handlers take, and the helper
that puts an awaited first event back in front of its stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeVar

from litestar import Request

__all__ = ["HttpRequest", "prepend"]

T = TypeVar("T")

# Litestar's Request with its user, auth and state parameters left open.
HttpRequest = Request[Any, Any, Any]


async def prepend(first: T, rest: AsyncIterator[T]) -> AsyncIterator[T]:
    """``first`` (awaited before the status was sent), then the rest of ``rest``;
    ``rest`` is closed however the stream ends."""
    try:
        yield first
        async for event in rest:
            yield event
    finally:
        await rest.aclose()  # type: ignore[attr-defined]
