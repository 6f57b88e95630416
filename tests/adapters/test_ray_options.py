"""What ``modelport serve --ray`` asks of Ray, without a cluster: every deployment's
options from plugins.toml, the Serve config file ``modelport ray-config`` writes, the
secrets handed to the ingress, the check that the cluster can hold the replicas, and the
environment a cluster of its own starts with."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from modelport.adapters.ray_serve import (
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


def test_a_cluster_of_our_own_starts_with_haproxy_in_front_and_ray_reads_it() -> None:
    """By default HAProxy takes HTTP (its stats page and exporter on free ports, not
    Ray's fixed 8404 and 9101) and Ray Serve runs throughput-optimized; the installed
    Ray reads these variables as meaning that (a renamed one would fail here)."""
    env = cluster_env(decode_config(CONFIG).server.ray)
    assert env["RAY_SERVE_ENABLE_HA_PROXY"] == env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "1"
    ports = {int(env["RAY_SERVE_HAPROXY_STATS_PORT"]), int(env["RAY_SERVE_HAPROXY_METRICS_PORT"])}
    assert len(ports) == 2 and not ports & {8404, 9101}
    read = (
        "from ray.serve._private import constants as c; print(c.RAY_SERVE_ENABLE_HA_PROXY, "
        "c.RAY_SERVE_ENABLE_DIRECT_INGRESS, c.RAY_SERVE_USE_GRPC_BY_DEFAULT, "
        "c.RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD, c.RAY_SERVE_HAPROXY_STATS_PORT)"
    )
    out = subprocess.run(
        [sys.executable, "-c", read],
        env=os.environ | env,
        capture_output=True,
        text=True,
        check=True,
    )
    stats = env["RAY_SERVE_HAPROXY_STATS_PORT"]
    assert out.stdout.split() == ["True", "True", "True", "False", stats]
    # Ray Serve's own proxy actor, as before
    ray_proxy = CONFIG.replace(
        "ingress_cpus = 0.5\n", 'ingress_cpus = 0.5\nproxy = "ray"\nthroughput_optimized = false\n'
    )
    env = cluster_env(decode_config(ray_proxy).server.ray)
    assert env == {
        "RAY_SERVE_THROUGHPUT_OPTIMIZED": "0",
        "RAY_SERVE_ENABLE_HA_PROXY": "0",
        "RAY_SERVE_ENABLE_DIRECT_INGRESS": "0",
    }
    out = subprocess.run(
        [sys.executable, "-c", read],
        env=os.environ | env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["False", "False", "False", "True", "8404"]
    with pytest.raises(ConfigError, match="proxy"):
        decode_config(
            CONFIG.replace("ingress_cpus = 0.5\n", 'ingress_cpus = 0.5\nproxy = "nginx"\n')
        )
