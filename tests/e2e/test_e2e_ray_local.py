"""``modelport serve --ray`` on a cluster of its own (``address = "local"``, 2 CPUs), both
ways ``[server.ray] proxy`` takes HTTP: HAProxy (the default, with Ray Serve's
throughput-optimized mode) and Ray Serve's proxy actor (without it). Each streams a chat
through the official SDK; a stopped server leaves nothing holding its port. HAProxy lets
a client that never finishes its request go after the server's header/idle timeout."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import openai
import pytest

from helpers import ServerProcess, listening, smollm2_gguf

pytestmark = pytest.mark.e2e


def _silent_for(port: int) -> float:
    """Seconds until the server closes a connection whose request never ends."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        start = time.monotonic()
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # (no blank line)
        while sock.recv(4096):
            pass
        return time.monotonic() - start


@pytest.mark.parametrize(
    ("proxy", "optimized"), [("haproxy", "true"), ("ray", "false")], ids=["haproxy", "ray-proxy"]
)
def test_a_cluster_of_its_own_streams_and_frees_its_port(
    tmp_path: Path, proxy: str, optimized: str
) -> None:
    config = tmp_path / "plugins.toml"
    config.write_text(
        f'[server]\ndata_dir = "{tmp_path / "data"}"\nheader_timeout = "2s"\nidle_timeout = "2s"\n'
        f'[server.ray]\nnum_cpus = 2\ningress_cpus = 0.1\nproxy = "{proxy}"\n'
        f"throughput_optimized = {optimized}\n"
        f'[[models]]\nname = "smollm2"\nbackend = "gguf"\nsource = "{smollm2_gguf()}"\n'
        "[models.deploy.ray_actor_options]\nnum_cpus = 0.5\n"
        "[models.options]\nn_threads = 1\nn_ctx = 1024\n"
    )
    env = {"RAY_USAGE_STATS_ENABLED": "0"}
    with ServerProcess(config, args=("--ray",), env=env, timeout=240) as server:
        owners = listening(server.port)
        assert ("haproxy" in owners) == (proxy == "haproxy"), owners
        if proxy == "haproxy":  # a client that never finishes its headers is let go
            assert 1.0 < _silent_for(server.port) < 10.0
        client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0)
        stream = client.chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": "Count to five."}],
            max_tokens=12,
            temperature=0,
            stream=True,
        )
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text.strip()
        assert chunks[-1].choices[0].finish_reason == "length"
    assert not server.alive()
    assert listening(server.port) == set()  # (HAProxy included: none outlives the cluster)
