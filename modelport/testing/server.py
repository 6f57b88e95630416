"""The real server in a subprocess, for end-to-end tests of a backend or plugin.

``ServerProcess(config)`` runs ``modelport serve`` with the given plugins.toml on a free
loopback port and waits for ``/health``; ``stop()`` ends it by its PID, and so does
leaving a ``with ServerProcess(config) as server:`` block. Point the official ``openai``
SDK at ``base_url + "/v1"``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

__all__ = ["ServerProcess", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``modelport serve`` in a subprocess on 127.0.0.1; stopped by PID."""

    def __init__(
        self,
        config: Path,
        *,
        env: dict[str, str] | None = None,
        timeout: float = 120,
        args: tuple[str, ...] = (),
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = Path(tempfile.gettempdir()) / f"modelport-server-{self.port}.log"
        cmd = [
            sys.executable, "-m", "modelport.adapters.cli", "serve", "--config", str(config),
            "--host", "127.0.0.1", "--port", str(self.port), *args,
        ]  # fmt: skip
        self._out = open(self.log, "wb")
        self.proc = subprocess.Popen(
            cmd,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=Path(config).resolve().parent,
        )
        self._wait(timeout)

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._out.close()
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:  # our /health (ok or degraded), not a proxy's 404 before the app is up
                health = httpx.get(self.base_url + "/health", timeout=1)
                if health.status_code in (200, 503) and "status" in health.json():
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"server did not start in {timeout}s:\n{self.output()}")

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def output(self) -> str:
        """The last lines the server logged."""
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
