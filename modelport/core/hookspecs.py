"""The hooks a modelport plugin may implement.

Every hook is ``register_*(registry)``: the plugin calls ``registry.add(...)`` so the
host validates each item and knows which distribution gave it. Hook specs only grow
(new keyword arguments); an existing argument never changes meaning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .adapters import AdapterRegistry
    from .registry import BackendRegistry

__all__ = ["PROJECT", "hookimpl", "hookspec", "register_adapters", "register_backends"]

PROJECT = "modelport"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_backends(registry: BackendRegistry) -> None:
    """Add backends with ``registry.add(BackendSpec(...))``."""


@hookspec
def register_adapters(registry: AdapterRegistry) -> None:
    """Add protocol adapters (routes, OpenAPI bodies, app state) with
    ``registry.add(AdapterSpec(...))``."""
