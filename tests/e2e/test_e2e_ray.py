"""``modelport serve --ray``: the same plugins.toml on Ray Serve, a local cluster started
by the server on 127.0.0.1 (bounded CPUs, no dashboard), two HTTP ingress replicas, two
replicas of smollm2 and one of all-minilm; driven through the official SDK."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from helpers import ROOT, ServerProcess, smollm2_gguf
from modelport.core.config import load_config
from modelport.core.sources import cached_path

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    root = tmp_path_factory.mktemp("ray")
    config = root / "plugins.toml"
    config.write_text(
        f'[server]\ndata_dir = "{root / "data"}"\n'
        "[server.ray]\ningress_replicas = 2\ningress_cpus = 0.1\nnum_cpus = 4\n"
        f'[[models]]\nname = "smollm2"\nbackend = "gguf"\nsource = "{smollm2_gguf()}"\n'
        "[models.deploy]\nnum_replicas = 2\n[models.deploy.ray_actor_options]\nnum_cpus = 0.5\n"
        "[models.options]\nn_threads = 1\nn_ctx = 2048\n"
        f'[[models]]\nname = "all-minilm"\nbackend = "sentence-transformers"\n'
        f'source = "{_minilm()}"\n'
        "[models.deploy.ray_actor_options]\nnum_cpus = 0.5\n"
        "[models.options]\nthreads = 1\n"
    )
    env = {"RAY_USAGE_STATS_ENABLED": "0"}
    try:
        with ServerProcess(config, args=("--ray",), env=env, timeout=240) as server:
            yield openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0)
    finally:
        _no_cluster_left()


def _minilm() -> Path:
    """The cached all-MiniLM-L6-v2 folder, as `make install` pulled it."""
    config = load_config(ROOT / "plugins.toml")
    model = next(m for m in config.models if m.name == "all-minilm")
    return cached_path(model.source or "", config.data_path() / "models", ROOT)


def _no_cluster_left() -> None:
    """The server stops its cluster on SIGTERM; if it could not, stop what is left."""
    ray = shutil.which("ray") or str(Path(sys.executable).parent / "ray")
    found = subprocess.run(["pgrep", "-f", "raylet"], capture_output=True, check=False)
    if found.stdout.strip():
        subprocess.run([ray, "stop", "--force"], capture_output=True, check=False, timeout=60)


def test_chat_stream_embeddings_and_responses(client: openai.OpenAI) -> None:
    chat = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "Name a colour."}],
        max_tokens=8,
        temperature=0,
    )
    assert chat.choices[0].message.content and chat.usage.completion_tokens == 8
    streamed = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": "Name a colour."}],
            max_tokens=8,
            temperature=0,
            stream=True,
        )
        if c.choices
    )
    assert streamed == chat.choices[0].message.content
    vectors = client.embeddings.create(model="all-minilm", input=["hello", "world"])
    assert [len(d.embedding) for d in vectors.data] == [384, 384]
    response = client.responses.create(model="smollm2", input="Hi", max_output_tokens=16)
    assert response.status in ("completed", "incomplete") and response.output


def test_stored_responses_are_shared_by_the_ingress_replicas(client: openai.OpenAI) -> None:
    # the proxy spreads requests over both ingress replicas; every continuation finds
    # the response it continues, whichever replica stored it
    previous = client.responses.create(model="smollm2", input="One.", max_output_tokens=16)
    for word in ("Two.", "Three.", "Four.", "Five."):
        previous = client.responses.create(
            model="smollm2",
            input=word,
            previous_response_id=previous.id,
            max_output_tokens=16,
        )
        assert client.responses.retrieve(previous.id).id == previous.id


def test_errors_keep_their_status_and_envelope(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": "x" * 20000}],
            max_tokens=4,
        )
    assert info.value.body["code"] == "context_length_exceeded"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model="all-minilm", input=[[999999]])
    assert info.value.body["param"] == "input[0]"  # type: ignore[index]
