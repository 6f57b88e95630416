"""``modelport convert``: prepare models ahead of time, such as the ONNX twins of models
whose backend converts their source on first load (``BackendSpec.prepare``). Cached: a
second run finds everything ready and does nothing."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence

from modelport.core.manager import ModelEntry, ModelManager

__all__ = ["convert_models"]


def _targets(manager: ModelManager, names: Sequence[str]) -> list[ModelEntry]:
    if names:
        return [manager.resolve(name) for name in names]
    return [e for e in manager.entries.values() if e.spec.prepare is not None]


def convert_models(manager: ModelManager, names: Sequence[str]) -> int:
    """Prepare the named models (default: every model whose backend prepares files),
    with progress on stderr. Returns the process exit status."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    entries = _targets(manager, names)
    if not entries:
        print("no configured model needs converting", file=sys.stderr)
    for entry in entries:
        started = time.monotonic()
        path = manager.prepare(entry)
        if path is None:
            print(f"{entry.name}: nothing to convert (backend {entry.spec.name})", file=sys.stderr)
        else:
            print(
                f"{entry.name}: ready at {path} ({time.monotonic() - started:.1f}s)",
                file=sys.stderr,
            )
    return 0
