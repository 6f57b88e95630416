"""`kill -9` in the middle of stored-response writes under load, three times: after each
restart every response the server acknowledged (a 200 with its id) is there, whole,
with the status and output it was acknowledged with. The real server and SmolLM2 on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers import ServerProcess, smollm2_gguf

pytestmark = pytest.mark.e2e

CLIENTS = 4
LOAD_SECONDS = 3.0


Acknowledged = dict[str, tuple[str, Any]]  # id -> (status, output)


def _write_load(server: ServerProcess, acknowledged: Acknowledged, stop: threading.Event) -> None:
    """One client: stored responses until ``stop`` (or the server dies under it)."""
    n = 0
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        while not stop.is_set():
            n += 1
            try:
                resp = http.post(
                    "/v1/responses",
                    json={
                        "model": "smollm2",
                        "input": f"Say a word about the number {n}.",
                        "max_output_tokens": 16,
                        "temperature": 0,
                        "store": True,
                    },
                )
            except httpx.HTTPError:
                return  # killed mid-request: not acknowledged
            if resp.status_code == 200:
                body = resp.json()
                acknowledged[body["id"]] = (body["status"], body["output"])


def test_every_acknowledged_response_survives_kill_9(tmp_path: Path) -> None:
    config = tmp_path / "plugins.toml"
    config.write_text(
        f'[server]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[[models]]\nname = "smollm2"\nbackend = "gguf"\nsource = "{smollm2_gguf()}"\n'
        'parallel = 4\nload = "eager"\n[models.options]\nn_ctx = 1024\n'
    )
    acknowledged: Acknowledged = {}
    for _ in range(3):
        server = ServerProcess(config)
        stop = threading.Event()
        clients = [
            threading.Thread(target=_write_load, args=(server, acknowledged, stop))
            for _ in range(CLIENTS)
        ]
        for thread in clients:
            thread.start()
        time.sleep(LOAD_SECONDS)
        os.kill(server.proc.pid, signal.SIGKILL)  # mid-write: no shutdown hook runs
        server.proc.wait(timeout=30)
        stop.set()
        for thread in clients:
            thread.join(timeout=60)
        server.stop()
    assert len(acknowledged) >= 10, "too little load to mean anything"
    with ServerProcess(config) as server, httpx.Client(base_url=server.base_url) as http:
        for response_id, (status, output) in acknowledged.items():
            resp = http.get(f"/v1/responses/{response_id}", timeout=10)
            assert resp.status_code == 200, (response_id, resp.text)
            body = resp.json()
            assert (body["status"], body["output"]) == (status, output)
            assert body["output"][0]["content"][0]["text"]
