from __future__ import annotations

from pathlib import Path

import pytest

from modelport.core import BackendRegistry, BackendSpec, Capability, hookimpl
from modelport.core.adapters import AdapterRegistry, AdapterSpec
from modelport.core.config import decode_config
from modelport.core.errors import ConfigError, PluginError
from modelport.core.manager import ModelManager
from modelport.core.plugins import load_plugins


def _spec(name: str) -> BackendSpec:
    return BackendSpec(
        name=name,
        capabilities=frozenset({Capability.EMBED}),
        load=lambda ctx: object(),
        needs_source=False,
    )


class Plugin:
    def __init__(self, *names: str):
        self.names = names

    @hookimpl
    def register_backends(self, registry: BackendRegistry) -> None:
        for name in self.names:
            registry.add(_spec(name))


def test_builtin_backends_come_from_entry_points() -> None:
    plugins = load_plugins()
    registry = plugins.collect_backends()
    assert {"gguf", "sentence-transformers"} <= set(registry.names())
    assert registry.origin("gguf").name == "modelport"
    assert plugins.info["gguf"].distribution.name == "modelport"


def test_temporary_plugin_registers_a_backend() -> None:
    plugins = load_plugins(entry_points=False, extra=[("tmp", Plugin("tmp-backend"))])
    registry = plugins.collect_backends()
    assert registry.names() == ["tmp-backend"]
    assert registry.origin("tmp-backend").name == "tmp"
    assert registry.plugin_of("tmp-backend") == "tmp"


def test_duplicate_names_name_both_distributions() -> None:
    plugins = load_plugins(
        entry_points=False, extra=[("first", Plugin("same")), ("second", Plugin("same"))]
    )
    with pytest.raises(PluginError) as info:
        plugins.collect_backends()
    assert "first" in info.value.message and "second" in info.value.message


def test_misspelled_hook_is_caught() -> None:
    class Typo:
        @hookimpl
        def register_backend(self, registry: BackendRegistry) -> None:  # missing "s"
            pass

    with pytest.raises(PluginError, match="unknown hook"):
        load_plugins(entry_points=False, extra=[("typo", Typo())])


def test_add_validates_items() -> None:
    class Bad:
        @hookimpl
        def register_backends(self, registry: BackendRegistry) -> None:
            registry.add("gguf")  # type: ignore[arg-type]

    plugins = load_plugins(entry_points=False, extra=[("bad", Bad())])
    with pytest.raises(PluginError, match="expected BackendSpec"):
        plugins.collect_backends()


def test_disabled_plugin_is_not_loaded() -> None:
    plugins = load_plugins(disabled=["sentence-transformers"])
    assert "sentence-transformers" not in plugins.collect_backends()


def test_unknown_backend_lists_available() -> None:
    plugins = load_plugins(entry_points=False, extra=[("tmp", Plugin("alpha", "beta"))])
    plugins.collect_backends()
    config = decode_config('[[models]]\nname = "m"\nbackend = "gamma"\n')
    with pytest.raises(ConfigError) as info:
        ModelManager(config, plugins)
    assert info.value.param == "models[0].backend"
    assert "allowed: alpha, beta" in info.value.message


def _install_fake_distribution(root: Path, module_source: str) -> None:
    """A real installed distribution (dist-info on sys.path) with one entry point."""
    info = root / "modelport_broken-9.9.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: modelport-broken\nVersion: 9.9\n")
    (info / "entry_points.txt").write_text("[modelport]\nbroken = modelport_broken\n")
    (root / "modelport_broken.py").write_text(module_source)


def test_broken_entry_point_is_skipped_until_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_fake_distribution(tmp_path, "raise ImportError('its runtime is missing')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins = load_plugins()
    registry = plugins.collect_backends()
    assert "gguf" in registry  # the others still load
    failed = plugins.failed("broken")
    assert failed is not None and "its runtime is missing" in (failed.error or "")
    config = decode_config('[[models]]\nname = "m"\nbackend = "broken"\n')
    with pytest.raises(PluginError) as info:
        ModelManager(config, plugins)
    assert "modelport-broken 9.9" in info.value.message
    assert "its runtime is missing" in info.value.message


# --- protocol adapters ------------------------------------------------------------------


class _Route:
    """What the registry reads of a route handler: the paths it serves."""

    def __init__(self, *paths: str):
        self.paths = set(paths)


class AdapterPlugin:
    def __init__(self, name: str, *paths: str):
        self.name, self.paths = name, paths

    @hookimpl
    def register_adapters(self, registry: AdapterRegistry) -> None:
        registry.add(AdapterSpec(name=self.name, routes=(_Route(*self.paths),)))


def test_adapters_are_collected_with_their_plugin() -> None:
    plugins = load_plugins(entry_points=False, extra=[("one", AdapterPlugin("one", "/v1/one"))])
    adapters = plugins.collect_adapters()
    assert adapters.names() == ["one"] and adapters.plugin_of("one") == "one"
    assert plugins.collect_adapters().names() == ["one"], "a fresh registry each time"


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (AdapterPlugin("one", "/v1/other"), "adapter 'one' is registered twice"),
        (AdapterPlugin("two", "/v1/one"), r"serves /v1/one, which adapter '(one|two)' from"),
    ],
)
def test_a_second_adapter_with_the_same_name_or_path_is_a_plugin_error(
    second: AdapterPlugin, message: str
) -> None:
    first = AdapterPlugin("one", "/v1/one")
    plugins = load_plugins(entry_points=False, extra=[("one", first), ("second", second)])
    with pytest.raises(PluginError, match=message):
        plugins.collect_adapters()


def test_an_adapter_needs_routes() -> None:
    registry = AdapterRegistry()
    with pytest.raises(PluginError, match="needs a name and at least one route"):
        registry.add(AdapterSpec(name="empty", routes=()))
    with pytest.raises(PluginError, match="expected AdapterSpec"):
        registry.add(_spec("x"))  # type: ignore[arg-type]
