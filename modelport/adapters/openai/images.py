"""``POST /v1/images/generations`` and the route that serves generated images by URL.

For ``response_format=url`` the PNGs are written under the server's data directory and
served from ``GET /v1/images/files/<name>``; like OpenAI's URLs they live for an hour,
then they are deleted. Names are 128-bit random, so a URL is only known to its client.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import re
import tempfile
import time
import uuid
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from litestar import Response, get, post
from litestar.params import FromPath
from litestar.response import File
from msgspec import UNSET, Meta, UnsetType

from modelport.core.config import Config
from modelport.core.errors import NotFound, Unsupported
from modelport.core.images import MAX_IMAGES, ImageQuality, ImageRequest, ImageResult
from modelport.core.service import ModelService

from .common import HttpRequest
from .disconnect import CLIENT_CLOSED_REQUEST, while_connected
from .mapping import decode
from .objects import _Out
from .wire import _Wire

__all__ = [
    "IMAGE_ROUTES",
    "ImageGenerationRequest",
    "ImageStore",
    "ImagesResponse",
    "image_file",
    "image_generations",
    "image_request",
]

log = logging.getLogger("modelport.http")

JSON = "application/json"
FILES_PATH = "/v1/images/files"
URL_LIFETIME = 3600.0
SEED_LIMIT = 2**63

# --- wire types ----------------------------------------------------------------------


class ImageGenerationRequest(_Wire, kw_only=True):
    """OpenAI's ``CreateImageRequest``, plus ``seed`` (an extension: same seed and
    parameters give the same images)."""

    prompt: Annotated[str, Meta(min_length=1, max_length=32000)]
    model: Annotated[str, Meta(min_length=1)]
    n: Annotated[int, Meta(ge=1, le=MAX_IMAGES)] | None = None
    size: str | None = None
    quality: ImageQuality | Literal["auto"] | None = None
    style: Literal["vivid", "natural"] | None = None
    response_format: Literal["url", "b64_json"] | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    output_compression: Annotated[int, Meta(ge=0, le=100)] | None = None
    background: Literal["transparent", "opaque", "auto"] | None = None
    moderation: Literal["low", "auto"] | None = None
    stream: bool | None = None
    partial_images: Annotated[int, Meta(ge=0, le=3)] | None = None
    user: str | None = None
    seed: Annotated[int, Meta(ge=0, le=SEED_LIMIT - 1)] | None = None


class ImageOut(_Out, kw_only=True):
    b64_json: str | UnsetType = UNSET
    url: str | UnsetType = UNSET


class ImagesResponse(_Out, kw_only=True):
    created: int
    data: list[ImageOut]
    output_format: Literal["png"] = "png"


_encoder = msgspec.json.Encoder()

# --- mapping ---------------------------------------------------------------------------


def _refuse_unhonoured(req: ImageGenerationRequest) -> None:
    """Known OpenAI fields that no backend here honours: a 400, never a silent ignore."""
    if req.stream:
        raise Unsupported("streaming image generation is not supported", param="stream")
    if req.partial_images:
        raise Unsupported(
            "partial images need streaming, which is not supported", param="partial_images"
        )
    if req.output_format not in (None, "png"):
        raise Unsupported(
            f"output_format {req.output_format!r} is not supported; images are PNG",
            param="output_format",
        )
    if req.output_compression not in (None, 100):
        raise Unsupported(
            "output_compression applies to jpeg and webp; images are PNG",
            param="output_compression",
        )
    if req.background == "transparent":
        raise Unsupported("transparent backgrounds are not supported", param="background")


def image_request(req: ImageGenerationRequest) -> ImageRequest:
    _refuse_unhonoured(req)
    return ImageRequest(
        model=req.model,
        prompt=req.prompt,
        n=req.n or 1,
        size=req.size,
        seed=req.seed,
        quality=None if req.quality == "auto" else req.quality,
        style=req.style,
        user=req.user,
    )


# --- the image store -------------------------------------------------------------------


class ImageStore:
    """PNGs behind ``response_format=url``: one file each under ``root``, deleted once
    older than ``lifetime`` seconds (swept at most once a minute, when images are saved)."""

    NAME = re.compile(r"^[0-9a-f]{32}\.png$")

    def __init__(self, root: Path, lifetime: float = URL_LIFETIME, sweep_every: float = 60.0):
        self.root = root
        self.lifetime = lifetime
        self.sweep_every = sweep_every
        self._last_sweep = 0.0

    def save(self, png: bytes) -> str:
        """Store one PNG (blocking) and return its file name."""
        self.root.mkdir(parents=True, exist_ok=True)
        if time.monotonic() - self._last_sweep >= self.sweep_every:
            self.sweep()
        name = f"{uuid.uuid4().hex}.png"
        fd, partial = tempfile.mkstemp(dir=self.root, prefix=".partial-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(png)
            os.replace(partial, self.root / name)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        return name

    def path(self, name: str) -> Path | None:
        """The file behind ``name`` while it is live; None if unknown or expired."""
        if not self.NAME.match(name):
            return None
        path = self.root / name
        try:
            live = time.time() - path.stat().st_mtime < self.lifetime
        except FileNotFoundError:
            return None
        return path if live else None

    def sweep(self) -> int:
        """Delete expired images (and partial writes of the same age); return how many."""
        self._last_sweep = time.monotonic()
        cutoff = time.time() - self.lifetime
        removed = 0
        for path in self.root.glob("*"):
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed


def _store(request: HttpRequest) -> ImageStore:
    state = request.app.state
    store: ImageStore | None = state.get("image_store")
    if store is None:
        config: Config = state.config
        store = state["image_store"] = ImageStore(config.data_path() / "images")
    return store


# --- handlers --------------------------------------------------------------------------


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
    return Response(_encoder.encode(out), media_type=JSON)


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


IMAGE_ROUTES = [image_generations, image_file]
