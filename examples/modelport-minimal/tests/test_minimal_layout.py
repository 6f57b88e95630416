"""The minimal plugin stays what the docs promise: named by convention, under 50 lines."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

from modelport.core.plugins import load_plugins


def test_names_follow_the_convention(installed_plugin: Path) -> None:
    project = tomllib.loads((installed_plugin / "pyproject.toml").read_text())["project"]
    assert project["name"] == "modelport-minimal"
    assert project["entry-points"]["modelport"] == {"minimal": "modelport_minimal"}


def test_the_installed_entry_point_registers_the_backend_it_is_named_after(
    installed_plugin: Path,
) -> None:
    plugins = load_plugins()
    registry = plugins.collect_backends()
    assert plugins.info["minimal"].error is None
    assert registry.plugin_of("minimal") == "minimal"
    assert registry.origin("minimal").name == "modelport-minimal"
    assert importlib.metadata.version("modelport-minimal") == registry.origin("minimal").version


def test_it_stays_minimal(installed_plugin: Path) -> None:
    assert len((installed_plugin / "modelport_minimal.py").read_text().splitlines()) < 50
