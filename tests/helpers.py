"""Test helpers: a real server process, and OpenAI-spec validation."""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT.parent / "shared" / "openai-openapi.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``modelport serve`` in a subprocess on 127.0.0.1; stopped by PID."""

    def __init__(self, config: Path, *, env: dict[str, str] | None = None, timeout: float = 120):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"modelport-test-{self.port}.log"
        cmd = [
            sys.executable,
            "-m",
            "modelport.adapters.cli",
            "serve",
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self._out = open(self.log, "wb")
        self.proc = subprocess.Popen(
            cmd,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=ROOT,
        )
        self._wait(timeout)

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.base_url + "/health", timeout=1).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"server did not start in {timeout}s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._out.close()


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
