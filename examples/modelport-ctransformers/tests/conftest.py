"""Fixtures of the ctransformers plugin's tests: the plugin installed with pip, and the
tiny model files its tests build."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from pathlib import Path

import pytest
from ctransformers_tiny_models import write_gpt2_ggml, write_llama_gguf

from modelport.testing.install import ensure_installed, pip_install

PLUGIN_DIR = Path(__file__).resolve().parents[1]
DISTRIBUTION = "modelport-ctransformers"
# The plugin's runtime, pinned: ctransformers is archived at 0.2.27.
RUNTIME = {
    "ctransformers": "ctransformers==0.2.27",
    "gguf": "gguf==0.19.0",
    "cpuinfo": "py-cpuinfo==9.0.0",
}


@pytest.fixture(scope="session", autouse=True)
def installed_plugin() -> Path:
    """``pip install -e`` this plugin (and its pinned runtime, when missing), the way a
    user installs a modelport backend; servers started later find its entry point."""
    missing = [pin for module, pin in RUNTIME.items() if importlib.util.find_spec(module) is None]
    if missing:
        pip_install(*missing)
    return ensure_installed(DISTRIBUTION, PLUGIN_DIR)


@pytest.fixture(scope="session")
def llama_gguf(tmp_path_factory: pytest.TempPathFactory, installed_plugin: Path) -> Path:
    return write_llama_gguf(tmp_path_factory.mktemp("models") / "tiny-llama.gguf")


@pytest.fixture(scope="session")
def gpt2_ggml(tmp_path_factory: pytest.TempPathFactory, installed_plugin: Path) -> Path:
    return write_gpt2_ggml(tmp_path_factory.mktemp("models") / "tiny-gpt2.bin")
