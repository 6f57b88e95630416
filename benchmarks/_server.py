"""A ``modelport serve`` subprocess for the benchmarks (or an already running server)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def process(command: list[str], name: str, timeout: float = 300) -> Iterator[str]:
    """Start an HTTP server (``command`` + ``--host 127.0.0.1 --port N``), yield its base
    URL once ``/health`` answers 200, and stop it by its PID."""
    port = _free_port()
    log = Path(tempfile.gettempdir()) / f"{name}-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited; see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start in {timeout}s; see {log}")
            time.sleep(0.25)
        yield url
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


@contextlib.contextmanager
def serving(config: Path, base_url: str | None = None, timeout: float = 300) -> Iterator[str]:
    """Yield the server's base URL: ``base_url`` as given, else a fresh server's."""
    if base_url:
        yield base_url.rstrip("/")
        return
    command = [sys.executable, "-m", "modelport.adapters.cli", "serve", "--config", str(config)]
    with process(command, "modelport-bench", timeout) as url:
        yield url


def sentences(count: int) -> list[str]:
    """``count`` distinct English sentences of 8 to 14 words."""
    subjects = [
        "The old fisherman",
        "A young engineer",
        "My neighbour's cat",
        "The orchestra",
        "A quiet student",
        "The city council",
        "Our research team",
        "The night train",
    ]
    verbs = [
        "carefully repaired",
        "quickly forgot",
        "proudly presented",
        "slowly explored",
        "happily shared",
        "secretly admired",
        "loudly criticised",
        "patiently studied",
    ]
    objects = [
        "the broken lighthouse",
        "a forgotten recipe",
        "the new bridge design",
        "an ancient map of the coast",
        "the results of the experiment",
        "a collection of rare stamps",
        "the plans for the summer festival",
        "the strange noise in the attic",
    ]
    out = []
    for i in range(count):
        s, v, o = subjects[i % 8], verbs[(i // 8) % 8], objects[(i // 64) % 8]
        out.append(f"{s} {v} {o} on day {i}.")
    return out
