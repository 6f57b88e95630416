"""Image generation: request and result types, the declared contract, shared helpers.

A model's image contract (its sizes, and the ``quality``/``style`` values it honours) comes
from its options, so a request the model cannot honour is refused with a 400 naming the
parameter before it waits in the model's queue. Core fills in what the client left out
(the default size, a random seed), so every backend sees a fully specified request and
every image can be reproduced from the seed in the result.
"""

from __future__ import annotations

import re
import secrets
from typing import Literal, Protocol, runtime_checkable

import msgspec

from .errors import InvalidRequest, Unsupported
from .features import Feature
from .types import _Value

__all__ = [
    "MAX_IMAGES",
    "DeclaresImageContract",
    "ImageContract",
    "ImageQuality",
    "ImageRequest",
    "ImageResult",
    "ImageStyle",
    "image_contract",
    "merge_results",
    "parse_size",
    "prepare_image_request",
    "split_per_image",
]

MAX_IMAGES = 10
SEED_SPACE = 2**63
ImageQuality = Literal["standard", "hd", "low", "medium", "high"]
ImageStyle = Literal["vivid", "natural"]

_SIZE = re.compile(r"^([1-9][0-9]{0,4})x([1-9][0-9]{0,4})$")


class ImageRequest(_Value, frozen=True, kw_only=True):
    """One text-to-image request.

    ``size`` is ``"WIDTHxHEIGHT"``; None means the model's default. ``quality`` and
    ``style`` are None when the client wants the model's default ("auto"). Image ``i``
    of a request is generated from seed ``seed + i``, so each image can be regenerated
    alone with ``n=1``.
    """

    model: str
    prompt: str
    n: int = 1
    size: str | None = None
    seed: int | None = None
    quality: ImageQuality | None = None
    style: ImageStyle | None = None
    user: str | None = None

    def dimensions(self) -> tuple[int, int]:
        """(width, height) of the requested size."""
        if self.size is None:
            raise InvalidRequest("no image size given and the model declares none", param="size")
        return parse_size(self.size)

    def image_seeds(self) -> list[int]:
        """The seed of each image: ``seed + i``, wrapped into the 63-bit seed space."""
        base = self.seed if self.seed is not None else 0
        return [(base + i) % SEED_SPACE for i in range(self.n)]


class ImageResult(_Value, frozen=True, kw_only=True):
    """PNG-encoded images, one per requested image, with the seed each came from."""

    images: list[bytes]
    seeds: list[int] = []


class ImageContract(_Value, frozen=True, kw_only=True):
    """What an image model generates: its sizes (the first is the default), and the
    ``quality`` and ``style`` values it honours ("auto" is always accepted)."""

    sizes: tuple[str, ...]
    qualities: frozenset[str] = frozenset()
    styles: frozenset[str] = frozenset()


@runtime_checkable
class DeclaresImageContract(Protocol):
    """Implemented by an image backend's options Struct; a backend without it checks
    sizes, qualities and styles itself."""

    def image_contract(self) -> ImageContract: ...


def image_contract(options: object) -> ImageContract | None:
    return options.image_contract() if isinstance(options, DeclaresImageContract) else None


def parse_size(size: str) -> tuple[int, int]:
    """(width, height) from ``"WIDTHxHEIGHT"``; a 400 naming ``size`` otherwise."""
    match = _SIZE.match(size)
    if match is None:
        raise InvalidRequest(
            f"size {size!r} is not of the form WIDTHxHEIGHT (e.g. 512x512)",
            param="size",
            code="invalid_value",
        )
    return int(match.group(1)), int(match.group(2))


def _resolve_size(size: str | None, contract: ImageContract | None, model: str) -> str | None:
    if size in (None, "auto"):
        return contract.sizes[0] if contract and contract.sizes else None
    width, height = parse_size(size)
    canonical = f"{width}x{height}"
    if contract is not None and canonical not in contract.sizes:
        raise InvalidRequest(
            f"size {size!r} is not supported by model {model!r}; supported: "
            f"{', '.join(contract.sizes)}",
            param="size",
            code="invalid_value",
        )
    return canonical


def _check_choice(value: str | None, allowed: frozenset[str], param: str, model: str) -> None:
    if value is not None and value not in allowed:
        honoured = ", ".join(sorted(allowed)) if allowed else "none besides auto"
        raise Unsupported(
            f"model {model!r} does not honour {param} {value!r}; it honours: {honoured}",
            param=param,
        )


def prepare_image_request(
    request: ImageRequest, features: frozenset[Feature], contract: ImageContract | None
) -> ImageRequest:
    """Check ``request`` against the model's contract and fill in its defaults."""
    if not 1 <= request.n <= MAX_IMAGES:
        raise InvalidRequest(
            f"n must be between 1 and {MAX_IMAGES}", param="n", code="invalid_value"
        )
    if request.seed is not None and Feature.SEED not in features:
        raise Unsupported(
            f"model {request.model!r} does not support 'seed' (feature 'seed'); remove it "
            "or use a model whose capabilities list it",
            param="seed",
        )
    if contract is not None:
        _check_choice(request.quality, contract.qualities, "quality", request.model)
        _check_choice(request.style, contract.styles, "style", request.model)
    size = _resolve_size(request.size, contract, request.model)
    seed = request.seed if request.seed is not None else secrets.randbelow(2**32)
    return msgspec.structs.replace(request, size=size, seed=seed)


def split_per_image(request: ImageRequest) -> list[ImageRequest]:
    """The fan-out of an ``n > 1`` request for a backend that makes one image per call:
    one ``n=1`` request per image, each with that image's seed."""
    return [msgspec.structs.replace(request, n=1, seed=seed) for seed in request.image_seeds()]


def merge_results(results: list[ImageResult]) -> ImageResult:
    return ImageResult(
        images=[png for r in results for png in r.images],
        seeds=[seed for r in results for seed in r.seeds],
    )
