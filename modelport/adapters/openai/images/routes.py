"""The routes: generate images, and serve the stored ones by URL."""

from __future__ import annotations

import asyncio
import base64
import time

from litestar import Response, get, post
from litestar.params import FromPath
from litestar.response import File

from modelport.core.adapters import Body
from modelport.core.config import Config
from modelport.core.errors import NotFound
from modelport.core.images import ImageResult
from modelport.core.service import ModelService

from ..common import HttpRequest, decode, json_response
from ..disconnect import CLIENT_CLOSED_REQUEST, while_connected
from .mapping import image_request
from .store import FILES_PATH, ImageStore, log
from .wire import ImageGenerationRequest, ImageOut, ImagesResponse

__all__ = ["BODIES", "ROUTES"]


def _store(request: HttpRequest) -> ImageStore:
    state = request.app.state
    store: ImageStore | None = state.get("image_store")
    if store is None:
        config: Config = state.config
        store = state["image_store"] = ImageStore(config.data_path() / "images")
    return store


async def _image_data(
    request: HttpRequest,
    result: ImageResult,
    response_format: str,
) -> list[ImageOut]:
    if response_format == "b64_json":
        return [ImageOut(b64_json=base64.b64encode(png).decode("ascii")) for png in result.images]
    store = _store(request)
    names = await asyncio.to_thread(lambda: [store.save(png) for png in result.images])
    base = str(request.base_url).rstrip("/")
    return [ImageOut(url=f"{base}{FILES_PATH}/{name}") for name in names]


@post("/v1/images/generations", status_code=200)
async def image_generations(request: HttpRequest) -> Response[bytes]:
    body = decode(await request.body(), ImageGenerationRequest)
    service: ModelService = request.app.state.service
    result = await while_connected(request, service.generate_image(image_request(body)))
    if result is None:
        log.info("client disconnected; image generation for %r cancelled", body.model)
        return Response(b"", status_code=CLIENT_CLOSED_REQUEST)
    data = await _image_data(request, result, body.response_format or "url")
    out = ImagesResponse(created=int(time.time()), data=data)
    return json_response(out)


@get(FILES_PATH + "/{name:str}")
async def image_file(request: HttpRequest, name: FromPath[str]) -> File:
    store = _store(request)
    path = store.path(name)
    if path is None:
        minutes = round(store.lifetime / 60)
        raise NotFound(f"image {name!r} not found; image URLs expire after {minutes} minutes")
    return File(
        path,
        media_type="image/png",
        content_disposition_type="inline",
        headers={"Cache-Control": f"private, max-age={int(store.lifetime)}"},
    )


ROUTES = [image_generations, image_file]
BODIES: dict[str, Body] = {
    "/v1/images/generations": (ImageGenerationRequest, ImagesResponse, False)
}
