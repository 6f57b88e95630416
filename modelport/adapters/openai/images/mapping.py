"""From the wire request to core's ``ImageRequest``: known OpenAI fields no backend here
honours are refused by name."""

from __future__ import annotations

from modelport.core.errors import Unsupported
from modelport.core.images import ImageRequest

from .wire import ImageGenerationRequest

__all__ = ["image_request"]


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
