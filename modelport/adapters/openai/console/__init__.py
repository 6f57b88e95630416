"""The web console: a page served by modelport itself at ``/`` (its files under
``/console/``), and the load and unload actions its models page offers.

Static files shipped in the package (no build step, no CDN: the page works offline);
uPlot 1.6.31 (MIT, ``static/uPlot-LICENSE.txt``) draws the charts. The page talks to the
server through the public API only (``/v1/models``, ``/v1/chat/completions``, ... and
``/metrics``), with the key the user gives it kept in the browser session.
"""

from __future__ import annotations

import functools
from importlib import resources

import msgspec
from litestar import Response, get, post
from litestar.params import FromPath

from modelport.core.errors import InvalidRequest, NotFound

from ..common import HttpRequest, decode, json_response, service_of

__all__ = ["ACTION_ROUTES", "PAGES", "is_page"]

CONSOLE_PREFIX = "/console/"
ACTIONS = "/console/models/"
FILES = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "uPlot.iife.min.js": "text/javascript; charset=utf-8",
    "uPlot.min.css": "text/css; charset=utf-8",
    "uPlot-LICENSE.txt": "text/plain; charset=utf-8",
}
# The page may load only its own files; the API is same-origin.
HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}


def is_page(path: str) -> bool:
    """The console's page and files (not its actions, which are API calls)."""
    return path == "/" or (path.startswith(CONSOLE_PREFIX) and not path.startswith(ACTIONS))


@functools.cache
def _read(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


@get("/", include_in_schema=False)
async def page() -> Response[bytes]:
    return Response(_read("index.html"), media_type="text/html; charset=utf-8", headers=HEADERS)


@get(CONSOLE_PREFIX + "{name:str}", include_in_schema=False)
async def asset(name: FromPath[str]) -> Response[bytes]:
    media_type = FILES.get(name)
    if media_type is None:
        raise NotFound(f"no console file {name!r}", param="name")
    return Response(_read(name), media_type=media_type, headers=HEADERS)


class ModelAction(msgspec.Struct, forbid_unknown_fields=True):
    model: str


def _state(request: HttpRequest, name: str) -> Response[bytes]:
    entry = service_of(request).manager.resolve(name)
    return json_response({"model": entry.name, "state": entry.state, "error": entry.error})


@post(ACTIONS + "load", status_code=200)
async def load_model(request: HttpRequest) -> Response[bytes]:
    """Load a model now (as its first request would); answers once it is loaded."""
    body = decode(await request.body(), ModelAction)
    manager = service_of(request).manager
    await manager.load(manager.resolve(body.model))
    return _state(request, body.model)


@post(ACTIONS + "unload", status_code=200)
async def unload_model(request: HttpRequest) -> Response[bytes]:
    """Unload a lazily loaded model that nothing is using (its next request loads it)."""
    body = decode(await request.body(), ModelAction)
    manager = service_of(request).manager
    entry = manager.resolve(body.model)
    if entry.config.load == "eager":
        raise InvalidRequest(
            f'model {entry.name!r} is loaded eagerly (load = "eager" in plugins.toml) '
            "and stays loaded",
            param="model",
            code="model_pinned",
        )
    if entry.active or entry.waiting:
        raise InvalidRequest(
            f"model {entry.name!r} is serving {entry.active} request(s) with "
            f"{entry.waiting} waiting; unload it when it is idle",
            param="model",
            code="model_busy",
        )
    if entry.model is not None:
        await manager.unload(entry)
    return _state(request, body.model)


PAGES = [page, asset]
ACTION_ROUTES = [load_model, unload_model]
