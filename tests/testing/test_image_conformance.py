"""``ImageConformance`` against a small image backend, and against one that breaks it."""

from __future__ import annotations

import random
import struct
import zlib

import msgspec
import pytest

from modelport.core import BackendSpec, Capability, Feature
from modelport.core.images import ImageRequest, ImageResult
from modelport.core.worker import run_blocking
from modelport.testing.conformance import ImageConformance, LoadedModel, load_model, png_size


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, seed: int) -> bytes:
    """A noise PNG: 8-bit greyscale, each row led by filter byte 0."""
    rng = random.Random(seed)
    rows = b"".join(b"\x00" + rng.randbytes(width) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


class NoiseOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    scale: int = 1


class NoiseModel:
    """Images of seeded noise, made on the worker pool like a real runtime's."""

    async def generate_image(self, request: ImageRequest) -> ImageResult:
        width, height = request.dimensions()
        seeds = request.image_seeds()
        images = await run_blocking(lambda: [png(width, height, s) for s in seeds])
        return ImageResult(images=images, seeds=seeds)


class WrongSizeModel(NoiseModel):
    async def generate_image(self, request: ImageRequest) -> ImageResult:
        return ImageResult(images=[png(8, 8, 0)] * request.n, seeds=request.image_seeds())


def _loaded(model: type[NoiseModel]) -> LoadedModel:
    spec = BackendSpec(
        name="noise",
        capabilities=frozenset({Capability.IMAGE}),
        features=frozenset({Feature.SEED}),
        options=NoiseOptions,
        load=lambda ctx: model(),
        needs_source=False,
    )
    return load_model(spec)


def test_png_size_reads_the_header() -> None:
    assert png_size(png(3, 5, 0)) == (3, 5)
    with pytest.raises(AssertionError, match="not a PNG"):
        png_size(b"GIF89a" + bytes(30))


@pytest.fixture(scope="module")
def conformance_model() -> LoadedModel:
    return _loaded(NoiseModel)


class TestNoiseImages(ImageConformance):
    size = "16x8"


def test_images_of_the_wrong_size_fail() -> None:
    with pytest.raises(AssertionError):
        ImageConformance().test_returns_n_pngs_of_the_requested_size(_loaded(WrongSizeModel))
