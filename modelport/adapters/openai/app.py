"""The Litestar application: routes, the error table, auth, body limits, lifecycle."""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
from typing import TYPE_CHECKING, Any, cast

from litestar import Litestar, Response
from litestar.config.cors import CORSConfig
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.openapi import OpenAPIConfig

from modelport.core.adapters import AdapterContext, AdapterSpec
from modelport.core.adapters import ErrorWriter as Writer
from modelport.core.config import Config, ServerConfig
from modelport.core.errors import ModelportError, PayloadTooLarge, Unauthorized
from modelport.core.manager import ModelManager
from modelport.core.plugins import Plugins, load_plugins
from modelport.core.records import Location, store_location
from modelport.core.service import ModelService

from .common import HttpRequest

if TYPE_CHECKING:
    from litestar.types import ASGIApp

from . import console
from . import plugin as openai_plugin
from .errors import envelope, error_body, http_error
from .metrics import HISTORY_PATH, METRICS_PATH, Gather, History, Metrics, metrics
from .metrics import history as metrics_history
from .observe import RequestObserver
from .openapi import document_bodies

__all__ = ["PUBLIC_PATHS", "create_app"]

log = logging.getLogger("modelport.http")

PUBLIC_PATHS = frozenset({"/health"})
OPENAI = "openai"  # the OpenAI adapter's plugin (entry point) name
DOCS_PREFIX = "/schema"


def _error_response(
    status: int, body: Any, headers: dict[str, str] | None = None
) -> Response[bytes]:
    return Response(
        envelope(body), status_code=status, media_type="application/json", headers=headers or {}
    )


class _Errors:
    """The app's error answers: the status, message, param and code from the one error
    table, in the envelope of the protocol whose path was asked (an adapter's ``error``
    writer, else OpenAI's), whatever raised it: a handler, the key check, the router
    (a wrong method), the body limit."""

    def __init__(self, adapters: list[AdapterSpec]):
        self.exact: dict[str, Writer] = {}
        self.prefixes: list[tuple[str, Writer]] = []
        for adapter in adapters:
            if adapter.error is None:
                continue
            for route in adapter.routes:
                for path in getattr(route, "paths", ()):
                    if "{" in path:
                        self.prefixes.append((path.split("{", 1)[0], adapter.error))
                    else:
                        self.exact[path] = adapter.error

    def _writer(self, path: str) -> Writer | None:
        found = self.exact.get(path)
        if found is None:
            found = next((w for prefix, w in self.prefixes if path.startswith(prefix)), None)
        return found

    def _answer(
        self, request: HttpRequest, status: int, body: Any, headers: dict[str, str]
    ) -> Response[bytes]:
        write = self._writer(request.url.path)
        if write is None:
            return _error_response(status, body, headers)
        return Response(
            write(status, body.message, body.param, body.code),
            status_code=status,
            media_type="application/json",
            headers=headers,
        )

    def on_error(self, request: HttpRequest, exc: Exception) -> Response[bytes]:
        status, body, headers = error_body(exc)
        return self._answer(request, status, body, headers)

    def on_http_error(self, request: HttpRequest, exc: HTTPException) -> Response[bytes]:
        if exc.status_code >= 500:
            return self.on_error(request, exc)
        body = http_error(exc.status_code, str(exc.detail), exc.extra)
        return self._answer(request, exc.status_code, body, dict(exc.headers or {}))


def _auth_guard(keys: list[str], server: ServerConfig) -> Any:
    async def before_request(request: HttpRequest) -> None:
        path = request.url.path
        if path in PUBLIC_PATHS or (server.public_docs and path.startswith(DOCS_PREFIX)):
            return
        if server.public_metrics and path in (METRICS_PATH, HISTORY_PATH):
            return
        page = server.console and console.is_page(path)
        if page and server.public_console:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "basic":  # (a browser asked for the console's page)
            token = _basic_password(token)
        elif scheme.lower() != "bearer":
            token = request.headers.get("x-api-key", "")  # (Anthropic's clients send it)
        if not any(hmac.compare_digest(token.strip().encode(), k.encode()) for k in keys):
            if page:  # the browser asks for the key: any user name, the key as password
                raise NotAuthorizedException(
                    "the console needs an API key: any user name, the key as password",
                    headers={"WWW-Authenticate": 'Basic realm="modelport", charset="UTF-8"'},
                )
            raise Unauthorized(
                "missing or invalid API key; send 'Authorization: Bearer <key>' "
                "(or 'x-api-key: <key>')"
            )

    return before_request


def _basic_password(credentials: str) -> str:
    """The password of HTTP Basic credentials (``user:password`` in base64), or ""."""
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[2]


def _body_limit(limit: int) -> Any:
    async def before_request(request: HttpRequest) -> None:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(f"request body of {length} bytes is over the {limit}-byte limit")

    return before_request


def _chain(*hooks: Any) -> Any:
    async def before_request(request: HttpRequest) -> None:
        for hook in hooks:
            await hook(request)

    return before_request


def create_app(
    config: Config,
    plugins: Plugins | None = None,
    *,
    store: Location | None = None,
    gather_metrics: Gather | None = None,
) -> Litestar:
    """Build the server for ``config``: plugins, registry, model manager, routes.

    An app that is one of several replicas (on Ray) is given the ``store`` they share
    (default: ``[server] store``, else the SQLite file in the data directory) and how
    to ``gather_metrics`` of every replica into what ``/metrics`` answers."""
    if plugins is None:
        plugins = load_plugins(disabled=config.plugins.disable)
        plugins.collect_backends()
    manager = ModelManager(config, plugins)
    meters = Metrics(manager, gather=gather_metrics)
    service = ModelService(manager, observers=[meters])
    server = config.server
    hooks = [_body_limit(server.max_body_bytes)]
    keys = server.resolved_api_keys()
    if store is None:  # (a store named by an unset variable stops start-up)
        store = store_location(config)
    if keys:
        hooks.insert(0, _auth_guard(keys, server))

    history = History(meters.answer)
    tasks: list[asyncio.Task[None]] = []

    async def startup(app: Litestar) -> None:
        _log_access_policy(keys, server)
        await manager.start()
        tasks.append(asyncio.create_task(history.run(), name="modelport-metrics-history"))

    async def shutdown(app: Litestar) -> None:
        for task in tasks:
            task.cancel()
        await manager.close()

    adapters = _adapters(plugins, config)
    errors = _Errors(adapters)
    app = Litestar(
        route_handlers=[
            *(route for adapter in adapters for route in adapter.routes),
            metrics,
            metrics_history,
            *(console.PAGES if server.console else ()),
            *(console.ACTION_ROUTES if server.model_control else ()),
        ],
        exception_handlers={
            ModelportError: errors.on_error,
            HTTPException: errors.on_http_error,
            Exception: errors.on_error,
        },
        before_request=_chain(*hooks),
        on_startup=[startup],
        on_shutdown=[shutdown],
        cors_config=_cors(server.cors_origins),
        openapi_config=OpenAPIConfig(title="modelport", version="0.1.0", path=DOCS_PREFIX),
        request_max_body_size=server.max_body_bytes,
        state=_state(service, plugins, config, meters, history, adapters, store),
        debug=False,
        logging_config=None,  # `modelport serve` configures logging (request ids, JSON)
    )
    envelopes = {
        path: adapter.error_envelope
        for adapter in adapters
        if adapter.error_envelope is not None
        for route in adapter.routes
        for path in getattr(route, "paths", ())
    }
    document_bodies(
        app, {path: body for a in adapters for path, body in a.bodies.items()}, envelopes
    )
    app.asgi_handler = cast("ASGIApp", RequestObserver(app.asgi_handler, meters))
    return app


def _public_routes(server: ServerConfig) -> list[str]:
    """The paths served without an API key when keys are configured."""
    paths = sorted(PUBLIC_PATHS)
    if server.console and server.public_console:
        paths += ["/", "/console/*"]
    if server.public_metrics:
        paths += [METRICS_PATH, HISTORY_PATH]
    if server.public_docs:
        paths.append(f"{DOCS_PREFIX}/*")
    return paths


def _log_access_policy(keys: list[str], server: ServerConfig) -> None:
    """Say at start-up whether authentication is on and which routes anyone may call."""
    if not keys:
        log.warning("authentication is off ([server] api_keys is empty): every route is public")
        return
    public = ", ".join(_public_routes(server))
    detail = "" if server.health_details else "; /health shows the status only"
    log.info(
        "authentication is on (%d API key%s); public routes: %s%s",
        len(keys),
        "" if len(keys) == 1 else "s",
        public,
        detail,
    )


def _cors(origins: list[str]) -> CORSConfig | None:
    """CORS for ``origins``; browsers may read the request id and Retry-After headers."""
    if not origins:
        return None
    return CORSConfig(allow_origins=origins, expose_headers=["X-Request-Id", "Retry-After"])


def _adapters(plugins: Plugins, config: Config) -> list[AdapterSpec]:
    """Every registered protocol adapter. The OpenAI adapter comes through its entry
    point like any other; a plugin manager built without entry points (tests, an
    application embedding modelport) gets it here, unless ``[plugins] disable`` names it."""
    if not plugins.pm.has_plugin(OPENAI) and OPENAI not in config.plugins.disable:
        plugins.add(OPENAI, openai_plugin)
    return list(plugins.collect_adapters())


def _state(
    service: ModelService,
    plugins: Plugins,
    config: Config,
    meters: Metrics,
    history: History,
    adapters: list[AdapterSpec],
    store: Location,
) -> Any:
    """The app state every handler reads (``service``, ``config``, ``store``, ...), and
    each adapter's own."""
    from litestar.datastructures import State

    common = {
        "service": service,
        "plugins": plugins,
        "config": config,
        "metrics": meters,
        "history": history,
        "store": store,
    }
    context = AdapterContext(service=service, config=config, plugins=plugins, store=store)
    own = [a.state(context) for a in adapters if a.state is not None]
    return State({**common, **{k: v for state in own for k, v in state.items()}})
