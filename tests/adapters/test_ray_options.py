"""What ``modelport serve --ray`` asks of Ray, without a cluster: every deployment's
options from plugins.toml, the Serve config file ``modelport ray-config`` writes, the
secrets handed to the ingress, and the check that the cluster can hold the replicas."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from modelport.adapters.ray_serve import _check_fit, deployment_options, secrets, serve_config
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
