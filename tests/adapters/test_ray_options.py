"""What ``modelport serve --ray`` asks of Ray, without a cluster: every deployment's
options from plugins.toml, the Serve config file ``modelport ray-config`` writes, the
secrets handed to the ingress, the check that the cluster can hold the replicas, and the
environment a cluster of its own starts with."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from modelport.adapters.ray_serve import (
    Hosted,
    _check_fit,
    cluster_env,
    deployment_options,
    secrets,
    serve_config,
)
from modelport.core.config import decode_config
from modelport.core.errors import ConfigError

CONFIG = """
[server]
api_keys = [{ env = "RAY_TEST_KEY" }, "literal"]
[server.ray]
ingress_replicas = 2
ingress_cpus = 0.5
[[models]]
name = "chat"
backend = "gguf"
source = "/models/chat.gguf"
parallel = 4
max_queue = 16
[models.deploy]
num_replicas = 3
[models.deploy.ray_actor_options]
num_cpus = 2
num_gpus = 0.5
[[models]]
name = "embed"
backend = "sentence-transformers"
source = "/models/embed"
[models.deploy.autoscaling]
min_replicas = 0
max_replicas = 4
target_ongoing_requests = 2
"""


def test_every_deployment_gets_its_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_TEST_KEY", "sesame")
    config = decode_config(CONFIG)
    assert secrets(config) == {"RAY_TEST_KEY": "sesame"}  # (not the literal key)
    options = deployment_options(config, secrets(config))
    assert list(options) == ["model-chat", "model-embed", "store", "metrics", "ingress"]
    chat = options["model-chat"]
    assert chat["num_replicas"] == 3 and chat["max_ongoing_requests"] == 4
    assert chat["max_queued_requests"] == 16
    assert chat["ray_actor_options"] == {"num_cpus": 2.0, "num_gpus": 0.5}
    scaling = options["model-embed"]["autoscaling_config"]
    assert (scaling["min_replicas"], scaling["initial_replicas"], scaling["max_replicas"]) == (
        0,
        1,
        4,
    )
    assert "num_replicas" not in options["model-embed"]
    ingress = options["ingress"]
    assert ingress["num_replicas"] == 2
    assert ingress["ray_actor_options"]["runtime_env"] == {"env_vars": {"RAY_TEST_KEY": "sesame"}}
    assert "runtime_env" not in deployment_options(config)["ingress"]["ray_actor_options"]
    # a PostgreSQL store: every ingress replica uses it, no store deployment
    with_db = decode_config(CONFIG.replace("[server]\n", '[server]\nstore = "postgresql://db/x"\n'))
    assert "store" not in deployment_options(with_db)


def test_the_cluster_must_hold_the_replicas(caplog: pytest.LogCaptureFixture) -> None:
    config = decode_config(CONFIG)  # 2 x 0.5 + 3 x 2 + 1 x 1 CPUs, 3 x 0.5 GPUs
    _check_fit(config, {"CPU": 8.0, "GPU": 2.0}, grows=False)
    with pytest.raises(ConfigError, match=r"reserve 8 CPUs at start and the cluster has 4"):
        _check_fit(config, {"CPU": 4.0, "GPU": 2.0}, grows=False)
    with pytest.raises(ConfigError, match=r"reserve 1.5 GPUs"):
        _check_fit(config, {"CPU": 8.0}, grows=False)
    caplog.set_level(logging.WARNING, logger="modelport.ray")
    _check_fit(config, {"CPU": 4.0, "GPU": 2.0}, grows=True)  # an autoscaler may add nodes
    assert "replicas wait until the cluster grows" in caplog.text


def test_ray_config_writes_a_serve_config_file(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins.toml"
    plugins.write_text(CONFIG)
    out = tmp_path / "serve.yaml"
    cli = [sys.executable, "-m", "modelport.adapters.cli", "ray-config", "--config", str(plugins)]
    subprocess.run([*cli, "--port", "9000", "--path", "/etc/mp.toml", "-o", str(out)], check=True)
    text = out.read_text()
    assert text.startswith("# Ray Serve config for modelport")
    document = yaml.safe_load(text)
    assert document == serve_config(decode_config(CONFIG), Path("/etc/mp.toml"), "127.0.0.1", 9000)
    application = document["applications"][0]
    assert application["import_path"] == "modelport.adapters.ray_serve:app"
    assert application["args"] == {"config": "/etc/mp.toml"}
    names = [d["name"] for d in application["deployments"]]
    assert names == ["model-chat", "model-embed", "store", "metrics", "ingress"]
    assert document["http_options"] == {"host": "127.0.0.1", "port": 9000}


def _ray_reads(env: dict[str, str]) -> list[str]:
    """What the installed Ray Serve makes of ``env``: HAProxy, direct ingress, gRPC
    between deployments, user code in a thread of its own, HAProxy's stats port, its
    most connections and its timeout on a silent client."""
    read = (
        "from ray.serve._private import constants as c; print(c.RAY_SERVE_ENABLE_HA_PROXY, "
        "c.RAY_SERVE_ENABLE_DIRECT_INGRESS, c.RAY_SERVE_USE_GRPC_BY_DEFAULT, "
        "c.RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD, c.RAY_SERVE_HAPROXY_STATS_PORT, "
        "c.RAY_SERVE_HAPROXY_MAXCONN, c.RAY_SERVE_HAPROXY_TIMEOUT_CLIENT_S)"
    )
    out = subprocess.run(
        [sys.executable, "-c", read], env=os.environ | env, capture_output=True, text=True
    )
    return out.stdout.split()


def test_a_cluster_of_our_own_starts_with_haproxy_in_front_and_ray_reads_it() -> None:
    """By default HAProxy takes HTTP (its stats page and exporter on free ports, not
    Ray's fixed 8404 and 9101) and Ray Serve runs throughput-optimized; the installed
    Ray reads these variables as meaning that (a renamed one would fail here)."""
    env = cluster_env(decode_config(CONFIG).server)
    assert env["RAY_SERVE_ENABLE_HA_PROXY"] == env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "1"
    ports = {int(env["RAY_SERVE_HAPROXY_STATS_PORT"]), int(env["RAY_SERVE_HAPROXY_METRICS_PORT"])}
    assert len(ports) == 2 and not ports & {8404, 9101}
    stats = env["RAY_SERVE_HAPROXY_STATS_PORT"]
    # bounded as the server's own HTTP: max_connections, the longer of the header and
    # idle timeouts (10 s and 15 s by default)
    assert _ray_reads(env) == ["True", "True", "True", "False", stats, "1000", "15"]
    # Ray Serve's own proxy actor, as before
    ray_proxy = CONFIG.replace(
        "ingress_cpus = 0.5\n", 'ingress_cpus = 0.5\nproxy = "ray"\nthroughput_optimized = false\n'
    )
    env = cluster_env(decode_config(ray_proxy).server)
    assert env == {
        "RAY_SERVE_THROUGHPUT_OPTIMIZED": "0",
        "RAY_SERVE_ENABLE_HA_PROXY": "0",
        "RAY_SERVE_ENABLE_DIRECT_INGRESS": "0",
    }
    assert _ray_reads(env) == ["False", "False", "False", "True", "8404", "4096", "3600"]
    with pytest.raises(ConfigError, match="proxy"):
        decode_config(
            CONFIG.replace("ingress_cpus = 0.5\n", 'ingress_cpus = 0.5\nproxy = "nginx"\n')
        )


MULTIPLEX = """
[server.ray.multiplex.small]
max_models_per_replica = 2
num_replicas = 3
[server.ray.multiplex.small.ray_actor_options]
num_cpus = 1
[[models]]
name = "a"
backend = "gguf"
source = "/models/a.gguf"
parallel = 2
[models.deploy]
multiplex = "small"
[[models]]
name = "b"
backend = "gguf"
source = "/models/b.gguf"
parallel = 4
max_queue = 9
[models.deploy]
multiplex = "small"
[[models]]
name = "alone"
backend = "gguf"
source = "/models/c.gguf"
"""


def test_a_multiplex_group_is_one_deployment_for_its_models() -> None:
    config = decode_config(MULTIPLEX)
    options = deployment_options(config)
    assert list(options) == ["model-alone", "multiplex-small", "store", "metrics", "ingress"]
    group = options["multiplex-small"]
    # two models a replica, each with its own slots: room for the larger one twice
    assert group["num_replicas"] == 3 and group["max_ongoing_requests"] == 2 * 4
    assert group["max_queued_requests"] == 64 and group["ray_actor_options"]["num_cpus"] == 1
    # the group's replicas are reserved once, not once per model: 3 + 1 + 0.5 ingress
    _check_fit(config, {"CPU": 4.5}, grows=False)
    with pytest.raises(ConfigError, match=r"reserve 4.5 CPUs"):
        _check_fit(config, {"CPU": 4.0}, grows=False)


def test_multiplex_settings_that_cannot_work_are_refused() -> None:
    second = 'max_queue = 9\n[models.deploy]\nmultiplex = "small"\n'
    cases = {
        # a replica count of its own, where the group's replicas serve it
        "models[1].deploy.num_replicas": MULTIPLEX.replace(second, second + "num_replicas = 2\n"),
        # a group that is not there
        "models[1].deploy.multiplex": MULTIPLEX.replace(second, second.replace("small", "smal")),
        # a group no model names
        "server.ray.multiplex.spare": MULTIPLEX.replace(
            "[server.ray.multiplex.small]\n",
            "[server.ray.multiplex.spare]\n[server.ray.multiplex.small]\n",
        ),
    }
    for param, text in cases.items():
        assert text != MULTIPLEX
        with pytest.raises(ConfigError) as info:
            decode_config(text)
        assert info.value.param == param, info.value


def test_a_multiplexed_model_is_closed_once_its_calls_are_done() -> None:
    """Ray Serve unloads the least recently used model of a replica to make room,
    awaiting its ``__del__`` when that is a coroutine function: a stream still running
    on it finishes first, then the model is closed."""

    class Host:
        closed = False

        async def close(self) -> None:
            self.closed = True

    async def main() -> None:
        host = Host()
        hosted = Hosted(host)  # type: ignore[arg-type]
        assert inspect.iscoroutinefunction(hosted.__del__)  # (what Ray Serve checks)
        assert "__del__" not in vars(Hosted)  # (no finaliser when it is collected)
        async with hosted.use():
            unload = asyncio.ensure_future(hosted.__del__())
            await asyncio.sleep(0.05)
            assert not unload.done() and not host.closed
        await asyncio.wait_for(unload, 1)
        assert host.closed

    asyncio.run(main())
