"""Test helpers: a real server process, and OpenAI-spec validation."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import yaml
from jsonschema import Draft202012Validator

from modelport.core import ChatRequest, Finish, TextDelta
from modelport.core.config import load_config
from modelport.core.sources import cached_path
from modelport.testing.server import ServerProcess, free_port

__all__ = [
    "ROOT",
    "SPEC",
    "ServerProcess",
    "assert_valid",
    "free_port",
    "run_example",
    "smollm2_config",
    "smollm2_gguf",
    "spec_errors",
    "tiktoken_offline",
]

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT.parent / "shared" / "openai-openapi.yaml"


def smollm2_gguf() -> Path:
    """The default SmolLM2 GGUF, as `make install` pulled it into the model cache."""
    config = load_config(ROOT / "plugins.toml")
    return cached_path(config.models[0].source or "", config.data_path() / "models", ROOT)


def smollm2_config(
    directory: Path, model: str = "", options: str = "", *, name: str = "smollm2"
) -> Path:
    """A plugins.toml in ``directory`` serving only the cached SmolLM2 GGUF as ``name``:
    ``model`` holds extra lines of its ``[[models]]`` table, ``options`` the lines of its
    ``[models.options]``. The repository's model cache is shared."""
    config = load_config(ROOT / "plugins.toml")
    path = directory / "plugins.toml"
    path.write_text(
        f'[server]\ndata_dir = "{config.data_path()}"\n'
        f'[[models]]\nname = "{name}"\nbackend = "gguf"\nsource = "{smollm2_gguf()}"\n'
        f"{model}[models.options]\n{options}"
    )
    return path


def run_example(server: ServerProcess, name: str, stdin: str | None = None, **env: str) -> str:
    """Run ``examples/<name>`` against ``server`` (``env`` adds to its environment) and
    return what it printed; it must exit 0."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)],
        input=stdin,
        env={**os.environ, "MODELPORT_BASE_URL": server.base_url + "/v1", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


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


def tiktoken_offline() -> None:
    """Point tiktoken at the encodings that litellm's wheel bundles (cl100k_base and
    o200k_base, under the file names tiktoken caches them by), so clients that count
    tokens with tiktoken work without a network."""
    import importlib.util

    spec = importlib.util.find_spec("litellm")
    assert spec is not None and spec.submodule_search_locations, "litellm is not installed"
    bundled = Path(spec.submodule_search_locations[0]) / "litellm_core_utils" / "tokenizers"
    os.environ["TIKTOKEN_CACHE_DIR"] = str(bundled)


async def chat_text(model: Any, request: ChatRequest) -> tuple[str, Finish]:
    """A loaded model's answer to ``request`` in process: its text and its Finish."""
    text, finish = "", None
    async for event in model.chat(request):
        if isinstance(event, TextDelta):
            text += event.text
        elif isinstance(event, Finish):
            finish = event
    assert finish is not None
    return text, finish


def listening(port: int) -> set[str]:
    """The names of the processes listening on TCP ``port``."""
    return {
        psutil.Process(c.pid).name()
        for c in psutil.net_connections("tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port and c.pid
    }
