"""The request and response bodies of image generation, as msgspec Structs."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import UNSET, Meta, UnsetType

from modelport.core.images import MAX_IMAGES, ImageQuality

from ..common import Out, Wire

__all__ = ["ImageGenerationRequest", "ImageOut", "ImagesResponse"]


SEED_LIMIT = 2**63


class ImageGenerationRequest(Wire, kw_only=True):
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


class ImageOut(Out, kw_only=True):
    b64_json: str | UnsetType = UNSET
    url: str | UnsetType = UNSET


class ImagesResponse(Out, kw_only=True):
    created: int
    data: list[ImageOut]
    output_format: Literal["png"] = "png"
