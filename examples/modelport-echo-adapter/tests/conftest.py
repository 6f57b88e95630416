"""The plugin installed with pip before its tests run, as its users will have it."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN_DIR = Path(__file__).resolve().parents[1]


def _installed_from_here() -> bool:
    try:
        dist = importlib.metadata.distribution("modelport-echo-adapter")
    except importlib.metadata.PackageNotFoundError:
        return False
    direct_url = json.loads(dist.read_text("direct_url.json") or "{}")
    return str(direct_url.get("url", "")).rstrip("/") == PLUGIN_DIR.as_uri()


@pytest.fixture(scope="session", autouse=True)
def installed_plugin() -> Path:
    if not _installed_from_here():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps",
             "--no-build-isolation", "-e", str(PLUGIN_DIR)],
            check=True,
        )  # fmt: skip
    # An editable install takes effect in new processes; this one imports from the tree.
    if str(PLUGIN_DIR) not in sys.path:
        sys.path.insert(0, str(PLUGIN_DIR))
    importlib.invalidate_caches()
    return PLUGIN_DIR
