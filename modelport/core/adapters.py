"""Protocol adapter specs and the registry plugins add them to.

A protocol adapter (the OpenAI HTTP API, the Anthropic Messages API, a plugin's own)
contributes routes, the OpenAPI bodies of its POST routes, and app state. Core treats
the routes as opaque objects (the HTTP layer's route handlers: core imports no web
framework); ``modelport.adapters.openai.app.create_app`` mounts every registered
adapter's routes on one app, behind the same auth, limits, metrics and error table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from .errors import PluginError
from .registry import NamedRegistry

__all__ = ["AdapterContext", "AdapterRegistry", "AdapterSpec", "Body", "ErrorWriter"]

# A POST route's request Struct, its JSON 200 Struct (None: not documented), and whether
# it may answer with Server-Sent Events.
Body = tuple[type, type | None, bool]

# An adapter's error envelope: (status, message, param, code) -> the JSON body.
ErrorWriter = Callable[[int, str, str | None, str | None], bytes]


class AdapterContext(msgspec.Struct, kw_only=True, frozen=True):
    """What an adapter's ``state`` function gets when the app is built: the model
    service (every model, their queues, the observers), the configuration, the plugins
    and where stored objects live (``modelport.core.records.open_records(store, ...)``:
    shared by every replica of the app)."""

    service: Any
    config: Any
    plugins: Any
    store: Any = None


class AdapterSpec(msgspec.Struct, kw_only=True, frozen=True):
    """A protocol adapter: its name, its route handlers, the OpenAPI bodies of its POST
    routes by path, a function giving the app state its handlers read
    (``request.app.state[...]``), and how it writes errors."""

    name: str
    routes: tuple[Any, ...]
    bodies: Mapping[str, Body] = {}
    state: Callable[[AdapterContext], Mapping[str, Any]] | None = None
    description: str = ""
    # How the adapter's routes answer an error, in its protocol's envelope:
    # ``error(status, message, param, code)`` gives the JSON body (the status, message,
    # param and code come from the server's one error table). None: OpenAI's envelope.
    error: ErrorWriter | None = None
    # The msgspec Struct of that envelope, for the OpenAPI document.
    error_envelope: type | None = None


class AdapterRegistry(NamedRegistry[AdapterSpec]):
    """The adapters of every plugin, which distribution added each, and which adapter
    serves each path."""

    kind = "adapter"

    def __init__(self) -> None:
        super().__init__()
        self._paths: dict[str, str] = {}

    def add(self, spec: AdapterSpec) -> None:
        if not isinstance(spec, AdapterSpec):
            raise PluginError(
                f"plugin {self.current_plugin!r} ({self.current}) passed "
                f"{type(spec).__name__} to registry.add(); expected AdapterSpec"
            )
        if not spec.name or not spec.routes:
            raise PluginError(f"adapter from {self.current} needs a name and at least one route")
        paths = [path for route in spec.routes for path in getattr(route, "paths", ())]
        for path in paths:
            owner = self._paths.get(path)
            if owner is not None and owner != spec.name:
                raise PluginError(
                    f"adapter {spec.name!r} from {self.current} serves {path}, which "
                    f"adapter {owner!r} from {self.origin(owner)} already serves"
                )
        self._record(spec.name, spec)
        self._paths.update(dict.fromkeys(paths, spec.name))
