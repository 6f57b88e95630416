"""``modelport plugins`` shows the pip-installed plugin beside the built-in ones."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def test_modelport_plugins_lists_the_installed_plugin(installed_plugin: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "modelport.adapters.cli", "plugins"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    out = done.stdout
    # The plugin, its distribution and version, and that it loaded.
    assert re.search(r"^ctransformers: modelport-ctransformers 0\.1\.0 \[ok\]$", out, re.M), out
    # Its backend with capabilities and features, from the spec it registered.
    assert re.search(r"^\s+backend ctransformers: chat, complete; features: seed, top_k$",
                     out, re.M), out  # fmt: skip
    # Built-in backends come from the same hook, credited to modelport.
    assert re.search(r"^gguf: modelport \S+ \[ok\]$", out, re.M), out
