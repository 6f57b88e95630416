"""The server-wide budget of image bytes in flight.

Every byte an image fetch reads, every decoded ``data:`` URI and every image's pixels
while they are verified are taken from one budget (``[image_fetch] max_inflight_bytes``)
and held until the request that needs them is done, generation included. A request that
would go over it fails at once with an :class:`Overloaded` (a 429 with ``Retry-After``)
instead of waiting: the memory that images can hold is bounded however many clients
send them, and a body that never ends stops at the budget or at ``max_bytes``.
"""

from __future__ import annotations

from .errors import Overloaded

__all__ = ["ImageBudget", "ImageHold"]


class ImageBudget:
    """Bytes of images held by requests now, out of ``limit``. Used from the event loop
    only, so it needs no lock."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0

    def hold(self) -> ImageHold:
        """A request's share of the budget; release it with ``close`` (or ``with``)."""
        return ImageHold(self)


class ImageHold:
    """What one request holds of the budget."""

    def __init__(self, budget: ImageBudget):
        self.budget = budget
        self.held = 0

    def take(self, n: int, param: str) -> None:
        """Hold ``n`` more bytes, or raise :class:`Overloaded` naming ``param``."""
        budget = self.budget
        if budget.used + n > budget.limit:
            raise Overloaded(
                f"the server holds {budget.used} bytes of images for requests in flight and "
                f"this image would take it over its budget of {budget.limit} bytes "
                "([image_fetch] max_inflight_bytes); retry shortly",
                param=param,
                code="image_budget_exhausted",
            )
        budget.used += n
        self.held += n

    def give(self, n: int) -> None:
        """Give back ``n`` of the bytes held (pixels once they are verified)."""
        n = min(n, self.held)
        self.held -= n
        self.budget.used -= n

    def close(self) -> None:
        self.give(self.held)

    def __enter__(self) -> ImageHold:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
