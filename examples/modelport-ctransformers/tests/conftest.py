"""Fixtures of the ctransformers plugin's tests: the plugin installed with pip, and the
tiny model files its tests build."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from ctransformers_tiny_models import write_gpt2_ggml, write_llama_gguf

PLUGIN_DIR = Path(__file__).resolve().parents[1]
DISTRIBUTION = "modelport-ctransformers"
# The plugin's runtime, pinned: ctransformers is archived at 0.2.27.
RUNTIME = {
    "ctransformers": "ctransformers==0.2.27",
    "gguf": "gguf==0.19.0",
    "cpuinfo": "py-cpuinfo==9.0.0",
}


def _installed_from_here() -> bool:
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return False
    direct_url = dist.read_text("direct_url.json")
    url = json.loads(direct_url).get("url", "") if direct_url else ""
    return url.rstrip("/") == PLUGIN_DIR.as_uri()


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", *args], check=True)


@pytest.fixture(scope="session", autouse=True)
def installed_plugin() -> Path:
    """``pip install -e`` this plugin (and its pinned runtime, when missing), the way a
    user installs a modelport backend; servers started later find its entry point."""
    missing = [pin for module, pin in RUNTIME.items() if importlib.util.find_spec(module) is None]
    if missing:
        _pip(*missing)
    if not _installed_from_here():
        _pip("--no-build-isolation", "-e", str(PLUGIN_DIR))
    # An editable install takes effect in new processes; this one imports from the tree.
    if str(PLUGIN_DIR) not in sys.path:
        sys.path.insert(0, str(PLUGIN_DIR))
    importlib.invalidate_caches()
    return PLUGIN_DIR


@pytest.fixture(scope="session")
def llama_gguf(tmp_path_factory: pytest.TempPathFactory, installed_plugin: Path) -> Path:
    return write_llama_gguf(tmp_path_factory.mktemp("models") / "tiny-llama.gguf")


@pytest.fixture(scope="session")
def gpt2_ggml(tmp_path_factory: pytest.TempPathFactory, installed_plugin: Path) -> Path:
    return write_gpt2_ggml(tmp_path_factory.mktemp("models") / "tiny-gpt2.bin")
