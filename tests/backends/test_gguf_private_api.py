"""The private parts of llama-cpp-python that the gguf backend uses exist in the
installed version (``modelport/backends/gguf/_llama.py`` lists them), and nothing else
in the backend reaches past the public API: an upgrade that moves one fails here."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from modelport.backends.gguf import _llama

llama_cpp = pytest.importorskip("llama_cpp")
GGUF = Path(_llama.__file__).parent


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            target = getattr(target, attr)
        return target
    raise AssertionError(f"cannot import {dotted}")


@pytest.mark.parametrize(("where", "name"), _llama.PRIVATE)
def test_each_private_symbol_exists(where: str, name: str) -> None:
    target = _resolve(where)
    if isinstance(target, type):  # an instance attribute: look in the class's code
        import inspect

        assert f"self.{name}" in inspect.getsource(target), f"{where}.{name} is gone"
    else:
        assert hasattr(target, name), f"{where}.{name} is gone"


def test_only_the_one_module_uses_private_symbols() -> None:
    private = re.compile(r"\._(internals|model|ctx|grammar|root)\b")
    for path in GGUF.glob("*.py"):
        if path.name == "_llama.py":
            continue
        hits = [line.strip() for line in path.read_text().splitlines() if private.search(line)]
        assert not hits, f"{path.name} reaches into llama-cpp-python: {hits}"
