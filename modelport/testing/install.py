"""A plugin's own test suite installs the plugin with pip, as its users will have it.

``ensure_installed(distribution, plugin_dir)`` runs ``pip install -e plugin_dir`` (no
dependencies) unless that distribution is already installed from that folder, then
puts the folder on ``sys.path`` (an editable install takes effect in new processes; the
test process imports from the tree). Servers started afterwards find its entry point.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

__all__ = ["ensure_installed", "pip_install"]


def pip_install(*args: str) -> None:
    """``pip install -q --no-deps`` with this interpreter."""
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", *args], check=True)


def _installed_from(distribution: str, plugin_dir: Path) -> bool:
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    direct_url = dist.read_text("direct_url.json")
    url = json.loads(direct_url).get("url", "") if direct_url else ""
    return str(url).rstrip("/") == plugin_dir.as_uri()


def ensure_installed(distribution: str, plugin_dir: Path) -> Path:
    """Install ``plugin_dir`` (editable) unless ``distribution`` comes from it already."""
    if not _installed_from(distribution, plugin_dir):
        pip_install("--no-build-isolation", "-e", str(plugin_dir))
    if str(plugin_dir) not in sys.path:
        sys.path.insert(0, str(plugin_dir))
    importlib.invalidate_caches()
    return plugin_dir
