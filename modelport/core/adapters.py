"""Protocol adapter specs and the registry plugins add them to.

A protocol adapter (the OpenAI HTTP API, the Anthropic Messages API, a plugin's own)
contributes routes, the OpenAPI bodies of its POST routes, and app state. Core treats
the routes as opaque objects (the HTTP layer's route handlers: core imports no web
framework); ``modelport.adapters.openai.app.create_app`` mounts every registered
adapter's routes on one app, behind the same auth, limits, metrics and error table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import msgspec

from .errors import PluginError
from .registry import Distribution

__all__ = ["AdapterContext", "AdapterRegistry", "AdapterSpec", "Body"]

# A POST route's request Struct, its JSON 200 Struct (None: not documented), and whether
# it may answer with Server-Sent Events.
Body = tuple[type, type | None, bool]


class AdapterContext(msgspec.Struct, kw_only=True, frozen=True):
    """What an adapter's ``state`` function gets when the app is built: the model
    service (every model, their queues, the observers), the configuration and the
    plugins."""

    service: Any
    config: Any
    plugins: Any


class AdapterSpec(msgspec.Struct, kw_only=True, frozen=True):
    """A protocol adapter: its name, its route handlers, the OpenAPI bodies of its POST
    routes by path, and a function giving the app state its handlers read
    (``request.app.state[...]``)."""

    name: str
    routes: tuple[Any, ...]
    bodies: Mapping[str, Body] = {}
    state: Callable[[AdapterContext], Mapping[str, Any]] | None = None
    description: str = ""


class AdapterRegistry:
    """The adapters of every plugin, and which distribution added each."""

    def __init__(self) -> None:
        self._specs: dict[str, AdapterSpec] = {}
        self._origin: dict[str, Distribution] = {}
        self._paths: dict[str, str] = {}
        self._plugin: dict[str, str] = {}
        self.current = Distribution("<unknown>", "")
        self.current_plugin = ""

    def add(self, spec: AdapterSpec) -> None:
        if not spec.name or not spec.routes:
            raise PluginError(f"adapter from {self.current} needs a name and at least one route")
        if spec.name in self._specs:
            raise PluginError(
                f"adapter {spec.name!r} is registered twice: by {self._origin[spec.name]} "
                f"and by {self.current}; uninstall one or disable it in plugins.toml [plugins]"
            )
        for route in spec.routes:
            for path in getattr(route, "paths", ()):
                owner = self._paths.get(path)
                if owner is not None and owner != spec.name:
                    raise PluginError(
                        f"adapter {spec.name!r} from {self.current} serves {path}, which "
                        f"adapter {owner!r} from {self._origin[owner]} already serves"
                    )
                self._paths[path] = spec.name
        self._specs[spec.name] = spec
        self._origin[spec.name] = self.current
        self._plugin[spec.name] = self.current_plugin

    def plugin_of(self, name: str) -> str:
        return self._plugin[name]

    def origin(self, name: str) -> Distribution:
        return self._origin[name]

    def names(self) -> list[str]:
        return sorted(self._specs)

    def __iter__(self) -> Iterator[AdapterSpec]:
        return iter(self._specs[n] for n in self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._specs
