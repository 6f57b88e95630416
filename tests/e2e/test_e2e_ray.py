"""``modelport serve --ray``: the same plugins.toml on Ray Serve, on a Ray head node the
tests start on 127.0.0.1 (4 CPUs, no dashboard; HAProxy in front, Ray Serve's
throughput-optimized mode): two HTTP ingress replicas, two replicas of smollm2 (one
stream each), one of all-minilm, an autoscaled model, and a multiplex group of a chat
and an embedding model on one replica; driven through the official SDK."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from helpers import ROOT, ServerProcess, free_port, listening, smollm2_gguf
from modelport.adapters.ray_serve import cluster_env, haproxy_files, stop_haproxy
from modelport.core.config import ServerConfig, load_config
from modelport.core.sources import cached_path

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A Ray head node on 127.0.0.1 (4 CPUs, no dashboard), stopped at the end; its
    address."""
    ray = shutil.which("ray") or str(Path(sys.executable).parent / "ray")
    port = free_port()
    # a loopback test cluster: no token auth, so the server and this driver join it
    os.environ.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    # started as docs/scaling.md says, with what a cluster of modelport's own gets by
    # default: Ray Serve's throughput-optimized mode and its HAProxy ingress (its files
    # in a folder of the test's, to stop what outlives the cluster)
    haproxy = Path(tempfile.mkdtemp(prefix="mp-haproxy-"))
    env = dict(os.environ) | cluster_env(ServerConfig()) | haproxy_files(haproxy)
    subprocess.run(
        [ray, "start", "--head", f"--port={port}", "--num-cpus=4", "--include-dashboard=false",
         "--disable-usage-stats", "--node-ip-address=127.0.0.1"],
        check=True, capture_output=True, env=env, timeout=120,
    )  # fmt: skip
    try:
        yield f"127.0.0.1:{port}"
    finally:
        import ray as ray_api

        ray_api.shutdown()  # (the kill test's own driver) before the cluster goes
        subprocess.run([ray, "stop", "--force"], capture_output=True, check=False, timeout=120)
        stop_haproxy(haproxy)


@pytest.fixture(scope="module")
def server(cluster: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("ray")
    config = root / "plugins.toml"
    config.write_text(
        f'[server]\ndata_dir = "{root / "data"}"\n'
        "[server.ray]\ningress_replicas = 2\ningress_cpus = 0.1\n"
        "[server.ray.multiplex.small]\nmax_models_per_replica = 1\n"
        "[server.ray.multiplex.small.ray_actor_options]\nnum_cpus = 0.5\n"
        f'[[models]]\nname = "smollm2"\nbackend = "gguf"\nsource = "{smollm2_gguf()}"\n'
        "parallel = 1\n"  # one stream per replica: two streams run on both replicas
        "[models.deploy]\nnum_replicas = 2\nhealth_check_period_s = 1\n"
        "[models.deploy.ray_actor_options]\nnum_cpus = 0.5\n"
        "[models.options]\nn_threads = 1\nn_ctx = 2048\n"
        f'[[models]]\nname = "all-minilm"\nbackend = "sentence-transformers"\n'
        f'source = "{_minilm()}"\nrerank = "embeddings"\n'
        "[models.deploy.ray_actor_options]\nnum_cpus = 0.5\n"
        "[models.options]\nthreads = 1\n"
        f'[[models]]\nname = "burst"\nbackend = "gguf"\nsource = "{smollm2_gguf()}"\n'
        "parallel = 1\n"
        "[models.deploy.autoscaling]\nmin_replicas = 1\nmax_replicas = 2\n"
        "target_ongoing_requests = 1\nupscale_delay_s = 0.5\ndownscale_delay_s = 3\n"
        "look_back_period_s = 2\n"
        "[models.deploy.ray_actor_options]\nnum_cpus = 0.5\n"
        "[models.options]\nn_threads = 1\nn_ctx = 1024\n"
        # two models of one multiplex group, whose one replica holds one at a time
        f'[[models]]\nname = "mux-chat"\nbackend = "gguf"\nsource = "{smollm2_gguf()}"\n'
        '[models.deploy]\nmultiplex = "small"\n'
        "[models.options]\nn_threads = 1\nn_ctx = 1024\n"
        f'[[models]]\nname = "mux-embed"\nbackend = "sentence-transformers"\n'
        f'source = "{_minilm()}"\n[models.deploy]\nmultiplex = "small"\n'
        "[models.options]\nthreads = 1\n"
    )
    env = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    with ServerProcess(config, args=("--ray", "--address", cluster), env=env, timeout=240) as proc:
        yield proc


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0)


def _minilm() -> Path:
    """The cached all-MiniLM-L6-v2 folder, as `make install` pulled it."""
    config = load_config(ROOT / "plugins.toml")
    model = next(m for m in config.models if m.name == "all-minilm")
    return cached_path(model.source or "", config.data_path() / "models", ROOT)


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


def test_tokenize_and_rerank(server: ServerProcess, client: openai.OpenAI) -> None:
    url = server.base_url
    tokens = httpx.post(url + "/tokenize", json={"model": "smollm2", "content": "Hi there"})
    completion = client.completions.create(model="smollm2", prompt="Hi there", max_tokens=1)
    assert tokens.json()["count"] == completion.usage.prompt_tokens
    text = httpx.post(
        url + "/detokenize", json={"model": "smollm2", "tokens": tokens.json()["tokens"]}
    )
    assert text.json()["content"] == "Hi there"
    documents = ["Cats sleep all day.", "Bake the bread at 220 degrees."]
    body = {"model": "all-minilm", "query": "How do I bake bread?", "documents": documents}
    ranked = httpx.post(url + "/v1/rerank", json=body, timeout=60).json()
    assert [r["index"] for r in ranked["results"]] == [1, 0]


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


def _sample(text: str, name: str, **labels: str) -> float:
    """One sample of a Prometheus exposition (0 when absent)."""
    want = [f'{k}="{v}"' for k, v in labels.items()]
    for line in text.splitlines():
        if line.startswith(name + "{") and all(w in line for w in want):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_multiplex_group_replica_holds_one_model_at_a_time_and_serves_both(
    client: openai.OpenAI,
) -> None:
    """mux-chat and mux-embed share one replica that holds one of them at a time: an
    embedding asked for while mux-chat streams waits for the stream to end (which is not
    cut short), then the replica swaps models; mux-chat then loads again and answers."""
    stream = client.chat.completions.create(
        model="mux-chat",
        messages=[{"role": "user", "content": "Write a long story about a lighthouse."}],
        max_tokens=120,
        temperature=0,
        stream=True,
    )
    chunks = iter(stream)
    first = next(c for c in chunks if c.choices and c.choices[0].delta.content)
    assert first.choices[0].delta.content

    def embed() -> tuple[int, float]:
        vectors = client.embeddings.create(model="mux-embed", input="A lighthouse.")
        return len(vectors.data[0].embedding), time.monotonic()

    with ThreadPoolExecutor(1) as pool:
        asked = pool.submit(embed)
        rest = list(chunks)
        ended = time.monotonic()
        dimensions, embedded = asked.result(timeout=180)
    assert rest[-1].choices[0].finish_reason == "length"
    assert dimensions == 384 and embedded > ended
    again = client.chat.completions.create(
        model="mux-chat", messages=[{"role": "user", "content": "Hi."}], max_tokens=8
    )
    assert again.choices[0].message.content


def test_haproxy_takes_http_in_front_of_the_ingress_replicas(server: ServerProcess) -> None:
    assert listening(server.port) == {"haproxy"}


def test_metrics_report_every_ingress_replica(server: ServerProcess) -> None:
    # the proxy spreads requests over both ingress replicas; /metrics, whichever
    # replica answers it, counts all of them (each replica alone saw only its share)
    route = {"route": "/v1/models/{model}", "status": "200"}
    for _ in range(12):
        assert httpx.get(server.base_url + "/v1/models/all-minilm").status_code == 200
    deadline = time.monotonic() + 20
    counted = 0.0
    while time.monotonic() < deadline:
        text = httpx.get(server.base_url + "/metrics").text
        counted = _sample(text, "modelport_requests_total", **route)
        if counted >= 12:
            break
        time.sleep(0.5)
    assert counted == 12
    assert _sample(text, "modelport_generated_tokens_total", model="smollm2") > 0
    assert _sample(text, "modelport_model_loaded", model="smollm2", backend="gguf") == 1


def test_a_client_that_goes_away_stops_its_generation_on_the_replica(
    server: ServerProcess, client: openai.OpenAI
) -> None:
    # two long generations, one on each smollm2 replica (EOS banned: they would run
    # for 1,800 tokens); their clients hang up after a few chunks. If the replicas
    # kept generating, the next two requests would wait behind them for many seconds.
    body = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": "Count from one to a thousand."}],
        "max_tokens": 1800,
        "logit_bias": {"0": -100, "2": -100},
        "stream": True,
    }
    url = server.base_url + "/v1/chat/completions"
    with (
        httpx.Client(timeout=60) as one,
        httpx.Client(timeout=60) as two,
        one.stream("POST", url, json=body) as a,
        two.stream("POST", url, json=body) as b,
    ):
        for stream in (a, b):
            lines = stream.iter_lines()
            for _ in range(6):
                next(lines)
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda _: client.chat.completions.create(
                    model="smollm2",
                    messages=[{"role": "user", "content": "Hi"}],
                    max_tokens=4,
                    timeout=60,
                ),
                range(2),
            )
        )
    assert all(a.choices[0].message.content for a in answers)
    assert time.monotonic() - started < 8, "the replicas kept generating for a client gone"


def _replicas(address: str, model: str = "smollm2") -> list[str]:
    """The names of a model's replica actors, seen from a driver of our own."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
    return sorted(
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if f"#model-{model}#" in a["name"]
    )


def test_a_killed_replica_ends_its_stream_with_an_error_and_comes_back(
    client: openai.OpenAI, cluster: str
) -> None:
    import ray

    names = _replicas(cluster)
    assert len(names) == 2
    outcomes: dict[int, str] = {}
    started = threading.Barrier(3)

    def stream(i: int) -> None:
        chunks = client.chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": "Write a long story about a cat."}],
            max_tokens=400,
            stream=True,
        )
        seen = 0
        try:
            for _ in chunks:
                seen += 1
                if seen == 3:
                    started.wait(timeout=60)
            outcomes[i] = "finished"
        except openai.APIError as exc:
            outcomes[i] = f"error: {exc}"

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    started.wait(timeout=60)  # both streams are running, one on each replica
    ray.kill(ray.get_actor(names[0], namespace="serve"), no_restart=True)
    for t in threads:
        t.join(timeout=120)
    assert sorted(o.split(":")[0] for o in outcomes.values()) == ["error", "finished"]
    # the other replica serves new requests; Ray brings the killed one back
    again = client.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "Hi"}], max_tokens=4
    )
    assert again.choices[0].message.content
    deadline = time.monotonic() + 60
    while len(_replicas(cluster)) < 2 and time.monotonic() < deadline:
        time.sleep(1)
    assert len(_replicas(cluster)) == 2


def test_autoscaling_adds_a_replica_under_a_burst_and_removes_it_after(
    client: openai.OpenAI, cluster: str
) -> None:
    assert len(_replicas(cluster, "burst")) == 1
    stop = threading.Event()

    def keep_busy() -> None:
        while not stop.is_set():
            client.chat.completions.create(
                model="burst",
                messages=[{"role": "user", "content": "Write a long story."}],
                max_tokens=120,
            )

    workers = [threading.Thread(target=keep_busy) for _ in range(3)]
    for w in workers:
        w.start()
    try:
        deadline = time.monotonic() + 90
        while len(_replicas(cluster, "burst")) < 2 and time.monotonic() < deadline:
            time.sleep(1)
        assert len(_replicas(cluster, "burst")) == 2, "no replica was added under the burst"
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=120)
    deadline = time.monotonic() + 90
    while len(_replicas(cluster, "burst")) > 1 and time.monotonic() < deadline:
        time.sleep(1)
    assert len(_replicas(cluster, "burst")) == 1, "the added replica was not removed"


def test_ray_config_writes_a_serve_config_that_serve_run_deploys(
    server: ServerProcess, cluster: str, tmp_path: Path
) -> None:
    # (last: it replaces the application) `modelport ray-config` for a plugins.toml
    # with all-minilm alone; the operator raises its replicas in the file; Ray's own
    # `serve run` deploys it, and the same address now serves that application
    import yaml

    config = tmp_path / "plugins.toml"
    config.write_text(
        f'[server]\ndata_dir = "{tmp_path / "data"}"\n[server.ray]\ningress_cpus = 0.1\n'
        f'[[models]]\nname = "all-minilm"\nbackend = "sentence-transformers"\n'
        f'source = "{_minilm()}"\n'
        "[models.deploy.ray_actor_options]\nnum_cpus = 0.25\n"
        "[models.options]\nthreads = 1\n"
    )
    out = tmp_path / "serve.yaml"
    port = server.base_url.rsplit(":", 1)[1]
    modelport = [sys.executable, "-m", "modelport.adapters.cli", "ray-config"]
    args = ["--config", str(config), "--host", "127.0.0.1", "--port", port, "-o", str(out)]
    subprocess.run([*modelport, *args], check=True, timeout=60)
    document = yaml.safe_load(out.read_text())
    application = document["applications"][0]
    assert application["import_path"] == "modelport.adapters.ray_serve:app"
    assert application["args"] == {"config": str(config)}
    minilm = next(d for d in application["deployments"] if d["name"] == "model-all-minilm")
    assert minilm["ray_actor_options"]["num_cpus"] == 0.25 and minilm["num_replicas"] == 1
    minilm["num_replicas"] = 2
    out.write_text(yaml.safe_dump(document))
    serve = shutil.which("serve") or str(Path(sys.executable).parent / "serve")
    subprocess.run(
        [serve, "run", "--non-blocking", "--address", cluster, str(out)],
        check=True, capture_output=True, timeout=180,
        env={**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"},
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if len(_replicas(cluster, "all-minilm")) == 2 and not _replicas(cluster, "smollm2"):
            models = httpx.get(server.base_url + "/v1/models", timeout=10)
            if models.status_code == 200 and [m["id"] for m in models.json()["data"]] == [
                "all-minilm"
            ]:
                break
        time.sleep(1)
    else:
        raise AssertionError("the application of the written config did not come up")
    client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0)
    vectors = client.embeddings.create(model="all-minilm", input="hello")
    assert len(vectors.data[0].embedding) == 384
