"""``modelport serve --ray``: the same plugins.toml on Ray Serve.

The Litestar app stays the only HTTP layer: it runs as the ingress deployment, with
``[server.ray] ingress_replicas`` stateless replicas, each building the whole app in its
own process. Its model manager holds a :class:`~modelport.core.remote.RemoteModel` per
configured model, which reaches that model's deployment through a Ray Serve handle. Each
configured model is one deployment (``[models.deploy]``: replicas or autoscaling, what a
replica reserves), whose replicas load the backend exactly as a local server does
(:class:`~modelport.core.remote.ModelHost`); a replica serves ``parallel`` requests at
once and queues ``max_queue`` more. Requests, events and results cross processes as
msgspec MessagePack; a stream is cancelled on the model's replica when its client goes.

Stored responses, chat completions and conversations are shared by the ingress
replicas through the store: the SQLite file in ``data_dir`` on a one-node cluster, a
PostgreSQL database (``[server] store``) on several nodes.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from modelport.core.config import Config, ModelConfig
from modelport.core.plugins import Plugins, load_plugins
from modelport.core.registry import LoadContext
from modelport.core.remote import ModelHost, RemoteModel

__all__ = ["build_app", "deployment_name", "run"]

log = logging.getLogger("modelport.ray")

_encoder = msgspec.json.Encoder()


def deployment_name(model: str) -> str:
    """The Ray Serve deployment of a configured model."""
    return f"model-{model}"


def _config(raw: bytes) -> Config:
    return msgspec.json.decode(raw, type=Config)


def _plugins(config: Config) -> Plugins:
    plugins = load_plugins(disabled=config.plugins.disable)
    plugins.collect_backends()
    return plugins


def ingress_config(config: Config) -> Config:
    """The configuration the HTTP layer runs with: every model is remote (nothing to
    pull or load here, never unloaded), and may have every replica's slots in use."""
    models = [
        msgspec.structs.replace(
            m,
            source=None,
            sha256=None,
            load="eager",
            keep_alive="-1",
            parallel=m.parallel * m.deploy.max_replicas(),
            max_queue=m.max_queue * m.deploy.max_replicas(),
        )
        for m in config.models
    ]
    return msgspec.structs.replace(config, models=models)


def remote_plugins(config: Config, handles: dict[str, Any]) -> Plugins:
    """The installed plugins, each backend's loader replaced by one that connects to the
    model's deployment (capabilities and features still come from the backend's spec,
    narrowed by what the loaded model reports)."""
    plugins = _plugins(config)
    registry = plugins.registry

    def load(ctx: LoadContext) -> object:
        return RemoteModel.connect(handles[ctx.name])

    for spec in list(registry):
        remote = msgspec.structs.replace(spec, load=load, needs_source=False, prepare=None)
        registry.replace(spec.name, remote)
    return plugins


def _deployments() -> tuple[Any, Any]:
    """The two deployment classes (Ray is imported only in Ray mode)."""
    from ray import serve

    @serve.deployment
    class ModelDeployment:
        """One configured model, loaded in each replica."""

        async def __init__(self, raw: bytes, name: str):  # type: ignore[misc]  # (Ray awaits it)
            config = _config(raw)
            self.host = ModelHost(config, name, _plugins(config))
            await self.host.start()

        async def info(self) -> bytes:
            return await self.host.info()

        async def chat(self, body: bytes) -> AsyncIterator[bytes]:
            async for chunk in self.host.chat(body):
                yield chunk

        async def complete(self, body: bytes) -> AsyncIterator[bytes]:
            async for chunk in self.host.complete(body):
                yield chunk

        async def embed(self, body: bytes) -> bytes:
            return await self.host.embed(body)

        async def generate_image(self, body: bytes) -> bytes:
            return await self.host.generate_image(body)

    @serve.deployment
    @serve.ingress()
    class Ingress:
        """The OpenAI API (every adapter), its models behind handles."""

        def __init__(self, raw: bytes, models: dict[str, Any]):
            self.config = _config(raw)
            self.models = models

        def __serve_build_asgi_app__(self) -> Any:
            from .openai.app import create_app

            ingress = ingress_config(self.config)
            return create_app(ingress, remote_plugins(ingress, self.models))

    return ModelDeployment, Ingress


def _model_options(model: ModelConfig) -> dict[str, Any]:
    deploy = model.deploy
    actor: dict[str, Any] = {
        "num_cpus": deploy.ray_actor_options.num_cpus,
        "num_gpus": deploy.ray_actor_options.num_gpus,
    }
    if deploy.ray_actor_options.memory is not None:
        actor["memory"] = deploy.ray_actor_options.memory
    options: dict[str, Any] = {
        "name": deployment_name(model.name),
        "ray_actor_options": actor,
        "max_ongoing_requests": model.parallel,
        "max_queued_requests": model.max_queue,
        "health_check_period_s": deploy.health_check_period_s,
        "health_check_timeout_s": max(2 * deploy.health_check_period_s, 10.0),
    }
    if deploy.autoscaling is not None:
        scaling = deploy.autoscaling
        options["autoscaling_config"] = {
            "min_replicas": scaling.min_replicas,
            "initial_replicas": max(1, scaling.min_replicas),
            "max_replicas": scaling.max_replicas,
            "target_ongoing_requests": scaling.target_ongoing_requests,
            "upscale_delay_s": scaling.upscale_delay_s,
            "downscale_delay_s": scaling.downscale_delay_s,
            "look_back_period_s": scaling.look_back_period_s,
            "metrics_interval_s": min(10.0, scaling.look_back_period_s),
        }
    else:
        options["num_replicas"] = deploy.num_replicas
    return options


def build_app(config: Config) -> Any:
    """The Ray Serve application of ``config``: one deployment per model, the ingress
    bound to their handles."""
    model_class, ingress_class = _deployments()
    raw = _encoder.encode(config)
    handles = {
        m.name: model_class.options(**_model_options(m)).bind(raw, m.name) for m in config.models
    }
    ray_config = config.server.ray
    ingress = ingress_class.options(
        num_replicas=ray_config.ingress_replicas,
        ray_actor_options={"num_cpus": ray_config.ingress_cpus},
        max_ongoing_requests=max(100, config.server.max_connections),
    )
    return ingress.bind(raw, handles)


def run(config: Config, host: str, port: int, address: str | None = None) -> None:
    """Deploy ``config`` on Ray Serve (a local cluster, or the one at ``address``) and
    serve HTTP on ``host:port`` until SIGTERM/SIGINT, then shut the application down."""
    import ray
    from ray import serve

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = address or config.server.ray.address
    if address == "local":
        ray.init(
            address="local",  # a new cluster, never one left running by someone else
            num_cpus=config.server.ray.num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            namespace="modelport",
        )
    else:
        ray.init(address=address, log_to_driver=False, namespace="modelport")
    serve.start(http_options={"host": host, "port": port})
    serve.run(build_app(config), name="modelport", route_prefix="/", blocking=False)
    log.info("modelport on Ray Serve at http://%s:%d/v1", host, port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    if address == "local":  # our own cluster: stopping it stops every replica with it
        ray.shutdown()
    else:  # a shared cluster: take our application away, leave the cluster running
        serve.delete("modelport")
        ray.shutdown()
