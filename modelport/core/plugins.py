"""Building the plugin manager and the backend registry from installed entry points."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from importlib import metadata
from types import ModuleType

import msgspec
import pluggy

from . import hookspecs
from .adapters import AdapterRegistry
from .errors import PluginError
from .registry import BackendRegistry, Distribution

__all__ = ["PluginInfo", "Plugins", "load_plugins"]

log = logging.getLogger("modelport.plugins")

ENTRY_POINT_GROUP = "modelport"


class PluginInfo(msgspec.Struct, frozen=True):
    name: str
    distribution: Distribution
    error: str | None = None


class Plugins:
    """The plugin manager with what was loaded, what failed and the backend registry."""

    def __init__(self, pm: pluggy.PluginManager, info: dict[str, PluginInfo]):
        self.pm = pm
        self.info = info
        self.registry = BackendRegistry()
        self.adapters = AdapterRegistry()

    def add(self, name: str, plugin: object) -> None:
        """Register ``plugin`` (a module or object with hooks) under ``name``, as a part
        of modelport itself."""
        from modelport import __version__

        self.pm.register(plugin, name=name)
        self.info[name] = PluginInfo(name, Distribution("modelport", __version__))

    def failed(self, name: str) -> PluginInfo | None:
        item = self.info.get(name)
        return item if item is not None and item.error else None

    def collect_backends(self) -> BackendRegistry:
        """Call every ``register_backends`` implementation, one plugin at a time, so the
        registry knows which distribution added each backend."""
        for plugin, name, dist in self._each():
            self.registry.current, self.registry.current_plugin = dist, name
            try:
                self._call_one("register_backends", plugin, registry=self.registry)
            finally:
                self.registry.current_plugin = ""
        return self.registry

    def collect_adapters(self) -> AdapterRegistry:
        """Call every ``register_adapters`` implementation, one plugin at a time, into
        a fresh registry (an app is built from it)."""
        self.adapters = AdapterRegistry()
        for plugin, name, dist in self._each():
            self.adapters.current, self.adapters.current_plugin = dist, name
            self._call_one("register_adapters", plugin, registry=self.adapters)
        return self.adapters

    def _each(self) -> list[tuple[object, str, Distribution]]:
        """Every registered plugin, its name and its distribution."""
        out = []
        for plugin in self.pm.get_plugins():
            name = self.pm.get_name(plugin) or repr(plugin)
            dist = self.info[name].distribution if name in self.info else _unknown(name)
            out.append((plugin, name, dist))
        return out

    def _call_one(self, hook: str, plugin: object, **kwargs: object) -> None:
        caller = self.pm.subset_hook_caller(
            hook, remove_plugins=[p for p in self.pm.get_plugins() if p is not plugin]
        )
        caller(**kwargs)


def _unknown(name: str) -> Distribution:
    return Distribution(name, "")


def _distribution(ep: metadata.EntryPoint) -> Distribution:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return Distribution("<unknown>", "")
    return Distribution(dist.metadata["Name"], dist.version)


def load_plugins(
    *,
    entry_points: bool = True,
    extra: Iterable[tuple[str, ModuleType | object]] = (),
    disabled: Iterable[str] = (),
) -> Plugins:
    """Build a fresh plugin manager (never at import time).

    Each entry point in group ``modelport`` is imported on its own: a broken one is
    logged and recorded, and only becomes fatal if plugins.toml uses its backend.
    ``extra`` registers plugin objects directly (tests, embedding applications).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if os.environ.get("MODELPORT_TRACE_HOOKS"):
        pm.trace.root.setwriter(lambda msg: log.info("hook: %s", msg.rstrip()))
        pm.enable_tracing()
    info: dict[str, PluginInfo] = {}
    skip = set(disabled)
    if entry_points:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in skip or ep.name in info:
                continue
            dist = _distribution(ep)
            try:
                plugin = ep.load()
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop others
                log.warning("plugin %r from %s failed to import: %r", ep.name, dist, exc)
                info[ep.name] = PluginInfo(ep.name, dist, error=repr(exc))
                continue
            pm.register(plugin, name=ep.name)
            info[ep.name] = PluginInfo(ep.name, dist)
    for name, plugin in extra:
        if name in skip:
            continue
        pm.register(plugin, name=name)
        info[name] = PluginInfo(name, Distribution(name, "local"))
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"a plugin implements an unknown hook: {exc}") from exc
    return Plugins(pm, info)
