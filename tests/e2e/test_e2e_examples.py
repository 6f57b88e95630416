"""Every example in examples/ that the server supports runs against the real server."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import ROOT, ServerProcess

pytestmark = pytest.mark.e2e

EXAMPLES = ROOT / "examples"


def _run(server: ServerProcess, name: str, stdin: str | None = None) -> str:
    env = {**os.environ, "MODELPORT_BASE_URL": server.base_url + "/v1"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_chat(server: ServerProcess) -> None:
    assert _run(server, "chat.py").strip()


def test_system_prompt(server: ServerProcess) -> None:
    assert "Paris" in _run(server, "system_prompt.py")


def test_streaming(server: ServerProcess) -> None:
    out = _run(server, "streaming.py")
    assert out.rstrip().endswith("tokens]")


def test_completions(server: ServerProcess) -> None:
    assert _run(server, "completions.py").strip()


def test_embeddings(server: ServerProcess) -> None:
    out = _run(server, "embeddings.py")
    assert "single: 384 dimensions" in out
    assert out.count("cosine(") == 2


def test_models(server: ServerProcess) -> None:
    out = _run(server, "models.py")
    assert "smollm2 (owned by modelport)" in out
    assert "retrieved smollm2" in out


def test_chat_repl_with_piped_input(server: ServerProcess) -> None:
    out = _run(server, "chat_repl.py", stdin="Hello!\nWhat did I just say?\nexit\n")
    assert out.count("smollm2> ") == 2
    assert out.count("you> ") == 3
