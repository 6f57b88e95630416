"""The model under test: loading it the way the server does, and serving it through core.

``load_model`` finds a backend by name among the installed plugins (or the plugin
objects given), decodes its options strictly and calls its loader once. ``service_for``
wraps the loaded model in a fresh ``ModelService``, so the kit's requests go through
the same contract checks, defaults and stop-sequence fallback as the server's.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec

from modelport.core.config import Config, ModelConfig, decode_options, load_config
from modelport.core.errors import ConfigError, PluginError
from modelport.core.hookspecs import hookimpl
from modelport.core.manager import ModelManager
from modelport.core.plugins import load_plugins
from modelport.core.registry import BackendRegistry, BackendSpec, LoadContext
from modelport.core.service import ModelService

__all__ = [
    "MODEL_NAME",
    "LoadedModel",
    "find_spec",
    "load_configured",
    "load_model",
    "service_for",
]

MODEL_NAME = "under-test"


class LoadedModel(msgspec.Struct, kw_only=True, frozen=True):
    """A loaded model object with the spec that made it and the options it was loaded
    with: what a conformance class's ``conformance_model`` fixture returns."""

    model: object
    spec: BackendSpec
    options: Any = None
    name: str = MODEL_NAME

    def decoded_options(self) -> Any:
        """The options object (the spec's defaults when none were given)."""
        if self.options is not None:
            return self.options
        return decode_options({}, self.spec.options, index=0)


def find_spec(backend: str, *, plugins: Iterable[object] = ()) -> BackendSpec:
    """The backend named ``backend``: from the given plugin objects, or (when none are
    given) from every installed ``modelport`` entry point, as the server finds it."""
    extra = [(f"conformance-{i}", plugin) for i, plugin in enumerate(plugins)]
    registry = load_plugins(entry_points=not extra, extra=extra).collect_backends()
    spec = registry.get(backend)
    if spec is None:
        available = ", ".join(registry.names()) or "none"
        raise PluginError(f"no backend {backend!r} is registered (available: {available})")
    return spec


def load_model(
    backend: str | BackendSpec,
    *,
    source: str | Path | None = None,
    options: dict[str, Any] | None = None,
    plugins: Iterable[object] = (),
    name: str = MODEL_NAME,
) -> LoadedModel:
    """Load a model the way the model manager does (blocking).

    ``options`` is the ``[models.options]`` table of plugins.toml, decoded with the
    backend's own Struct; ``source`` is the local file or directory it loads.
    """
    spec = backend if isinstance(backend, BackendSpec) else find_spec(backend, plugins=plugins)
    decoded = decode_options(options or {}, spec.options, index=0)
    path = Path(source).expanduser() if source is not None else None
    if spec.needs_source and path is None:
        raise ConfigError(f"backend {spec.name!r} needs a source: pass source= to load_model()")
    model = spec.load(LoadContext(name=name, path=path, options=decoded))
    return LoadedModel(model=model, spec=spec, options=decoded, name=name)


def load_configured(
    name: str, config: str | Path, *, options: dict[str, Any] | None = None
) -> LoadedModel:
    """Load the model ``name`` as a plugins.toml configures it: its backend from the
    installed plugins, its source fetched into (or found in) the model cache, its
    options with ``options`` laid over them (say, fewer threads for tests)."""
    parsed = load_config(config)
    plugins = load_plugins(disabled=parsed.plugins.disable)
    plugins.collect_backends()
    manager = ModelManager(parsed, plugins)
    entry = manager.resolve(name)
    table = {**entry.config.options, **(options or {})}
    return load_model(entry.spec, source=manager.pull(entry), options=table, name=name)


class _PreloadedPlugin:
    """Registers the spec under test with a loader that returns the model already
    loaded, so a fresh service never loads (or unloads) it again."""

    def __init__(self, loaded: LoadedModel):
        self.spec = msgspec.structs.replace(
            loaded.spec, load=lambda ctx: loaded.model, needs_source=False
        )

    @hookimpl
    def register_backends(self, registry: BackendRegistry) -> None:
        registry.add(self.spec)


def service_for(loaded: LoadedModel) -> ModelService:
    """A fresh ``ModelService`` serving ``loaded`` under the name ``MODEL_NAME``.

    Build one per event loop: the manager's slots are asyncio primitives.
    """
    options = loaded.decoded_options()
    table = msgspec.to_builtins(options) if isinstance(options, msgspec.Struct) else {}
    config = Config(models=[ModelConfig(name=MODEL_NAME, backend=loaded.spec.name, options=table)])
    plugins = load_plugins(entry_points=False, extra=[("conformance", _PreloadedPlugin(loaded))])
    plugins.collect_backends()
    return ModelService(ModelManager(config, plugins))
