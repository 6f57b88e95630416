"""The Anthropic Messages API, registered as a protocol adapter (entry point
``anthropic`` in pyproject.toml), with Anthropic's error envelope."""

from __future__ import annotations

from modelport.core.adapters import AdapterRegistry, AdapterSpec
from modelport.core.hookspecs import hookimpl

from . import render, routes

__all__ = ["register_adapters"]


@hookimpl
def register_adapters(registry: AdapterRegistry) -> None:
    registry.add(
        AdapterSpec(
            name="anthropic",
            routes=tuple(routes.ROUTES),
            bodies=routes.BODIES,
            error=render.error,
            error_envelope=render.AnthropicError,
            description="the Anthropic Messages API: messages (streamed or not), count_tokens",
        )
    )
