"""Plugin authors import one module: ``modelport.plugin``. The built-in backends (which
are plugins like a third party's) and the example plugins import nothing else of
modelport, so everything a backend needs is in it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import modelport.plugin

ROOT = Path(__file__).resolve().parents[1]
# The plugins' own code (their tests drive them through whatever they like).
PLUGIN_CODE = sorted(
    [
        *(ROOT / "modelport" / "backends").rglob("*.py"),
        *(ROOT / "examples").glob("*/modelport_*.py"),
        *(ROOT / "examples").glob("*/modelport_*/**/*.py"),
    ]
)


def _modelport_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] if node.module != "modelport" else [
                f"modelport.{a.name}" for a in node.names
            ]  # fmt: skip
            found += [n for n in names if n.split(".")[0] == "modelport"]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "modelport"]
    return found


@pytest.mark.parametrize("path", PLUGIN_CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_plugin_code_imports_modelport_only_through_modelport_plugin(path: Path) -> None:
    others = [name for name in _modelport_imports(path) if name != "modelport.plugin"]
    assert not others, f"{path.relative_to(ROOT)} imports {others}; use modelport.plugin"


def test_every_public_name_resolves() -> None:
    assert len(set(modelport.plugin.__all__)) == len(modelport.plugin.__all__)
    for name in modelport.plugin.__all__:
        assert getattr(modelport.plugin, name) is not None, name
