"""The ``modelport`` command: serve, models, plugins, pull."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelport import __version__
from modelport.core.config import Config, load_config
from modelport.core.errors import ModelportError
from modelport.core.manager import ModelManager
from modelport.core.plugins import Plugins, load_plugins

__all__ = ["default_config_path", "main"]


def default_config_path() -> Path:
    """``$MODELPORT_CONFIG``, else ``./plugins.toml``, else the packaged default."""
    env = os.environ.get("MODELPORT_CONFIG")
    if env:
        return Path(env)
    local = Path("plugins.toml")
    if local.is_file():
        return local
    packaged = Path(__file__).resolve().parent.parent / "plugins.toml"
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "plugins.toml"


def _setup(args: argparse.Namespace) -> tuple[Config, Plugins, ModelManager]:
    config = load_config(args.config or default_config_path())
    plugins = load_plugins(disabled=config.plugins.disable)
    plugins.collect_backends()
    return config, plugins, ModelManager(config, plugins)


def _pull(manager: ModelManager, names: Sequence[str]) -> None:
    entries = [manager.resolve(n) for n in names] if names else list(manager.entries.values())
    for entry in entries:
        if entry.config.source is None:
            continue
        state = "cached" if manager.is_pulled(entry) else "pulling"
        print(f"{entry.name}: {state} {entry.config.source}", file=sys.stderr)
        path = manager.pull(entry)
        print(f"{entry.name}: ready at {path}", file=sys.stderr)


def serve(app: Any, config: Config, host: str, port: int) -> None:
    """Run ``app`` under uvicorn until SIGTERM/SIGINT, then shut down gracefully: stop
    accepting, give in-flight requests and streams ``[server] shutdown_timeout`` to finish,
    cancel the rest, and unload the models (the app's shutdown hook). Connections are
    bounded by ``[server] header_timeout``, ``idle_timeout`` and ``max_connections``."""
    import uvicorn

    from .connections import ConnectionLimits, limited_protocol

    server = config.server
    grace = server.shutdown_seconds()
    limits = ConnectionLimits(
        header_timeout=server.header_seconds(),
        idle_timeout=server.idle_seconds(),
        max_connections=server.max_connections,
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        http=limited_protocol(limits),
        timeout_keep_alive=math.ceil(limits.idle_timeout),
        log_level=server.log_level,
        log_config=None,  # keep our handlers: request ids, JSON lines
        access_log=False,  # the app logs one line per request, with its id
        timeout_graceful_shutdown=None if grace is None else math.ceil(grace),
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from .openai.app import create_app
    from .openai.logs import configure_logging

    config, plugins, manager = _setup(args)
    server = config.server
    host, port = args.host or server.host, args.port if args.port is not None else server.port
    configure_logging(server.log_level, server.log_format)
    _pull(manager, [])
    if args.ray:
        from .ray_serve import run

        print(
            f"modelport {__version__} serving {', '.join(manager.entries)} on Ray Serve at "
            f"http://{host}:{port}/v1",
            file=sys.stderr,
            flush=True,
        )
        run(config, host, port, args.address)
        return 0
    app = create_app(config, plugins)
    print(
        f"modelport {__version__} serving {', '.join(manager.entries)} on http://{host}:{port}/v1",
        file=sys.stderr,
        flush=True,
    )
    serve(app, config, host, port)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    _, _, manager = _setup(args)
    for entry in manager.entries.values():
        aliases = f" (aliases: {', '.join(entry.config.aliases)})" if entry.config.aliases else ""
        pulled = "pulled" if manager.is_pulled(entry) else "not pulled"
        serves = ", ".join(sorted(entry.capabilities))
        print(
            f"{entry.name}{aliases}\n  backend {entry.spec.name}; serves {serves}; "
            f"source {entry.config.source} [{pulled}]"
        )
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    config = load_config(args.config or default_config_path()) if args.config else None
    plugins = load_plugins(disabled=config.plugins.disable if config else ())
    registry = plugins.collect_backends()
    adapters = plugins.collect_adapters()
    for name, info in sorted(plugins.info.items()):
        status = f"FAILED: {info.error}" if info.error else "ok"
        print(f"{name}: {info.distribution.name} {info.distribution.version} [{status}]")
        for spec in registry:
            if registry.plugin_of(spec.name) == name:
                print(
                    f"  backend {spec.name}: {', '.join(sorted(spec.capabilities))}; "
                    f"features: {', '.join(sorted(spec.features)) or 'none'}"
                )
        for adapter in adapters:
            if adapters.plugin_of(adapter.name) == name:
                print(f"  adapter {adapter.name}: {adapter.description or 'no description'}")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    _, _, manager = _setup(args)
    _pull(manager, args.names)
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from .cli_convert import convert_models

    _, _, manager = _setup(args)
    return convert_models(manager, args.names)


def cmd_ray_config(args: argparse.Namespace) -> int:
    import yaml

    from .ray_serve import serve_config

    path = Path(args.config or default_config_path()).resolve()
    config = load_config(path)
    host = args.host or config.server.host
    port = args.port if args.port is not None else config.server.port
    text = RAY_CONFIG_HEADER + yaml.safe_dump(
        serve_config(config, Path(args.path) if args.path else path, host, port),
        sort_keys=False,
    )
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


RAY_CONFIG_HEADER = """\
# Ray Serve config for modelport, written by `modelport ray-config` from plugins.toml.
# Run it with `serve run` or `serve deploy`, or put it in a KubeRay RayService's
# serveConfigV2. Every deployment's options can be edited here (replicas, autoscaling,
# ray_actor_options); `args.config` must name plugins.toml on the cluster's nodes, and
# variables that plugins.toml reads ({ env = ... }: API keys, the store URL) must be
# set where the application is built, or in a runtime_env. Ray reads how it takes HTTP
# when its nodes start: for HAProxy in front and the throughput-optimized mode (what
# `modelport serve --ray` gives a cluster of its own), start every node with
# RAY_SERVE_ENABLE_HA_PROXY=1 and RAY_SERVE_THROUGHPUT_OPTIMIZED=1 in its environment.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelport", description="Local models behind the OpenAI HTTP API."
    )
    parser.add_argument("--version", action="version", version=f"modelport {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument(
            "--config",
            help="path to plugins.toml (default: $MODELPORT_CONFIG, "
            "./plugins.toml, or the packaged default)",
        )
        return p

    serve = add("serve", "serve the configured models over the OpenAI HTTP API")
    serve.add_argument("--host", help="address to bind (default: [server] host)")
    serve.add_argument("--port", type=int, help="port to bind (default: [server] port)")
    serve.add_argument(
        "--ray",
        action="store_true",
        help="run on Ray Serve: the HTTP layer and every model as deployments "
        "([server.ray], [models.deploy])",
    )
    serve.add_argument(
        "--address",
        help="with --ray: the cluster to join ('auto', 'ray://host:port'; default: "
        "[server.ray] address, 'local' starts one)",
    )
    serve.set_defaults(func=cmd_serve)
    ray_config = add(
        "ray-config",
        "write a Ray Serve config file (serve deploy, serve run, KubeRay) for plugins.toml",
    )
    ray_config.add_argument("--host", help="address the HTTP proxies bind (default: [server] host)")
    ray_config.add_argument(
        "--port", type=int, help="port the HTTP proxies bind (default: [server] port)"
    )
    ray_config.add_argument(
        "--path",
        help="where plugins.toml is on the cluster's nodes (default: this file's absolute path)",
    )
    ray_config.add_argument("-o", "--output", help="write here instead of standard output")
    ray_config.set_defaults(func=cmd_ray_config)
    add("models", "list the configured models").set_defaults(func=cmd_models)
    add("plugins", "list installed plugins, their distributions and backends").set_defaults(
        func=cmd_plugins
    )
    pull = add("pull", "fetch what the configured models need into the model cache")
    pull.add_argument("names", nargs="*", help="model names or aliases (default: all)")
    pull.set_defaults(func=cmd_pull)
    convert = add(
        "convert",
        "convert models whose backend derives files from their source (such as ONNX "
        "twins) into the model cache now, instead of on first use",
    )
    convert.add_argument(
        "names",
        nargs="*",
        help="model names or aliases (default: every model that needs converting)",
    )
    convert.set_defaults(func=cmd_convert)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ModelportError as exc:
        print(f"modelport: error: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
