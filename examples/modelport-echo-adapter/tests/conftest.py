"""The plugin installed with pip before its tests run, as its users will have it."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.testing.install import ensure_installed

PLUGIN_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def installed_plugin() -> Path:
    return ensure_installed("modelport-echo-adapter", PLUGIN_DIR)
