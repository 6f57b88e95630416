"""Backend specs and the registry plugins add them to."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

import msgspec

from .capabilities import Capability, Feature
from .errors import PluginError
from .types import Sampling

__all__ = [
    "BackendRegistry",
    "BackendSpec",
    "Distribution",
    "LoadContext",
    "NamedRegistry",
    "NoOptions",
]

S = TypeVar("S")


class NoOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Options of a backend that takes none: any key in plugins.toml is an error."""


class LoadContext(msgspec.Struct, kw_only=True, frozen=True):
    """What a backend's loader gets: the model's name, the local path its source
    resolved to (None when it has no source) and its decoded options."""

    name: str
    path: Path | None
    options: Any
    defaults: Sampling = Sampling()
    # The model cache: where a backend keeps files it derives from a source (converted
    # or compiled weights), in a folder of its own; None when there is no cache.
    cache_dir: Path | None = None
    # How many requests the model may serve at once (``parallel`` in plugins.toml): a
    # backend that batches sequences sizes its context for this many.
    parallel: int = 1


class BackendSpec(msgspec.Struct, kw_only=True, frozen=True):
    """A backend: its name (the ``backend =`` key in plugins.toml), the Struct that
    decodes its options, the capabilities it serves, the request features it honours,
    and a blocking loader that returns the loaded model object."""

    name: str
    load: Callable[[LoadContext], object]
    capabilities: frozenset[Capability]
    features: frozenset[Feature] = frozenset()
    options: type[msgspec.Struct] = NoOptions
    description: str = ""
    # Narrow capabilities/features from a model's options (e.g. an embedding-only GGUF).
    capabilities_for: Callable[[Any], frozenset[Capability]] | None = None
    features_for: Callable[[Any], frozenset[Feature]] | None = None
    # Whether the model needs a ``source`` (a file or directory) to load.
    needs_source: bool = True
    # Blocking, cached preparation that a loader would otherwise do on first load, such
    # as converting the source to the backend's format; ``modelport convert`` runs it
    # ahead of time. Returns the prepared path, or None when the model needs nothing.
    prepare: Callable[[LoadContext], Path | None] | None = None

    def model_capabilities(self, options: Any) -> frozenset[Capability]:
        return self.capabilities_for(options) if self.capabilities_for else self.capabilities

    def model_features(self, options: Any, model: object | None = None) -> frozenset[Feature]:
        """The features a model honours: from its options, narrowed once loaded by the
        model's own ``features`` attribute when it has one (say, a GGUF file without
        fill-in-the-middle tokens cannot honour ``suffix``)."""
        declared = self.features_for(options) if self.features_for else self.features
        narrowed = getattr(model, "features", None)
        return declared & frozenset(narrowed) if narrowed is not None else declared


class Distribution(msgspec.Struct, frozen=True):
    """The installed distribution a plugin came from."""

    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


UNKNOWN_DISTRIBUTION = Distribution("<unregistered>", "")


class NamedRegistry(Generic[S]):
    """Specs by name, each with the distribution and the plugin that registered it
    (``current`` and ``current_plugin``, set by the plugin manager around each hook
    call). A name registered twice is a :class:`PluginError` naming both."""

    kind = "item"  # what the specs are, for messages

    def __init__(self) -> None:
        self._specs: dict[str, S] = {}
        self._origin: dict[str, Distribution] = {}
        self._plugin: dict[str, str] = {}
        self.current = UNKNOWN_DISTRIBUTION
        self.current_plugin = ""

    def _record(self, name: str, spec: S) -> None:
        if name in self._specs:
            raise PluginError(
                f"{self.kind} {name!r} is registered twice: by {self._origin[name]} "
                f"and by {self.current}; uninstall one or disable it in plugins.toml [plugins]"
            )
        self._specs[name] = spec
        self._origin[name] = self.current
        self._plugin[name] = self.current_plugin

    def get(self, name: str) -> S | None:
        return self._specs.get(name)

    def replace(self, name: str, spec: S) -> None:
        """Swap the spec registered as ``name`` (its origin stays): how Ray mode turns
        every backend's loader into one that connects to the model's deployment."""
        if name not in self._specs:
            raise KeyError(name)
        self._specs[name] = spec

    def origin(self, name: str) -> Distribution:
        return self._origin[name]

    def plugin_of(self, name: str) -> str:
        return self._plugin[name]

    def names(self) -> list[str]:
        return sorted(self._specs)

    def __iter__(self) -> Iterator[S]:
        return iter(self._specs[n] for n in self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._specs


class BackendRegistry(NamedRegistry[BackendSpec]):
    """Backends by name, each with the distribution that registered it."""

    kind = "backend"

    def add(self, spec: BackendSpec) -> None:
        if not isinstance(spec, BackendSpec):
            raise PluginError(
                f"plugin {self.current_plugin!r} ({self.current}) passed "
                f"{type(spec).__name__} to registry.add(); expected BackendSpec"
            )
        if not spec.name or not spec.capabilities:
            raise PluginError(
                f"backend from {self.current} needs a name and at least one capability"
            )
        self._record(spec.name, spec)
