"""The OpenAI HTTP API, registered as a protocol adapter like any third party's
(entry point ``openai`` in pyproject.toml)."""

from __future__ import annotations

from modelport.core.adapters import AdapterRegistry, AdapterSpec
from modelport.core.hookspecs import hookimpl

from .handlers import ROUTES
from .openapi import BODIES

__all__ = ["register_adapters"]


@hookimpl
def register_adapters(registry: AdapterRegistry) -> None:
    registry.add(
        AdapterSpec(
            name="openai",
            routes=tuple(ROUTES),
            bodies=BODIES,
            description="the OpenAI HTTP API: chat completions, completions, embeddings, "
            "models, images, responses",
        )
    )
