"""What the service tells observers about the work it does, in one place.

Every endpoint reaches models through :class:`~modelport.core.service.ModelService`:
chat and completions (and ``n`` choices, ``best_of`` candidates and the Responses API,
which run as single chat or completion generations), embeddings and image generation.
The service reports each one to its observers, so a metrics exporter, a tracer or an
audit log sees every endpoint without knowing any of them. An observer is called on the
event loop and must not block or raise.
"""

from __future__ import annotations

from typing import Protocol

from .types import Usage

__all__ = ["Observer"]


class Observer(Protocol):
    def first_output(self, model: str, seconds: float) -> None:
        """A generation's first output, ``seconds`` after the service got it (queueing
        and loading included)."""

    def generated(self, model: str, usage: Usage) -> None:
        """A generation finished (one per choice or candidate)."""

    def embedded(self, model: str, prompt_tokens: int) -> None:
        """An embedding request was served."""

    def imaged(self, model: str, images: int, seconds: float) -> None:
        """An image request was served: ``images`` images in ``seconds`` (queueing
        included)."""
