"""Test helpers: a real server process, and OpenAI-spec validation."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from modelport.core.config import load_config
from modelport.core.sources import cached_path
from modelport.testing.server import ServerProcess, free_port

__all__ = [
    "ROOT",
    "SPEC",
    "ServerProcess",
    "assert_valid",
    "free_port",
    "smollm2_gguf",
    "spec_errors",
]

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT.parent / "shared" / "openai-openapi.yaml"


def smollm2_gguf() -> Path:
    """The default SmolLM2 GGUF, as `make install` pulled it into the model cache."""
    config = load_config(ROOT / "plugins.toml")
    return cached_path(config.models[0].source or "", config.data_path() / "models", ROOT)


def _nullable_to_anyof(node: Any) -> Any:
    """The spec mixes OpenAPI 3.0's ``nullable: true`` into 3.1 schemas; make it JSON Schema."""
    if isinstance(node, dict):
        out = {k: _nullable_to_anyof(v) for k, v in node.items() if k != "nullable"}
        if node.get("nullable") is True:
            return {"anyOf": [out, {"type": "null"}]}
        return out
    if isinstance(node, list):
        return [_nullable_to_anyof(v) for v in node]
    return node


@functools.lru_cache(maxsize=1)
def _components() -> dict[str, Any]:
    with open(SPEC, "rb") as f:
        spec = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return _nullable_to_anyof(spec["components"])


def spec_errors(name: str, instance: Any) -> list[str]:
    """Validation errors of ``instance`` against ``#/components/schemas/<name>``."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": _components()}
    validator = Draft202012Validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def assert_valid(name: str, instance: Any) -> None:
    errors = spec_errors(name, instance)
    assert not errors, f"{name} does not validate: {errors[:5]}"
