"""``ImageConformance``: n PNG images of the requested size, reproducible from the seed."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import ClassVar, cast

import msgspec
import pytest

from modelport.core.capabilities import Capability, Feature, Image
from modelport.core.errors import ModelportError
from modelport.core.images import ImageRequest, ImageResult, image_contract, prepare_image_request

from ._base import ConformanceBase
from ._checks import assert_pool_idle, busy_pool_threads, expect_core_error_or_result, run
from ._subject import MODEL_NAME, LoadedModel, service_for

__all__ = ["ImageConformance", "png_size"]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HOSTILE_PROMPTS = ("", "😀" * 300, "漢字とかなカナ" * 200, "a" * 20_000, "\x00\x01 control \x7f")


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; fails on anything that is not a PNG."""
    assert data[:8] == PNG_MAGIC, f"not a PNG: starts with {data[:8]!r}"
    assert data[12:16] == b"IHDR", "PNG without an IHDR chunk first"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


class ImageConformance(ConformanceBase):
    """The Image contract; subclass it and provide a ``conformance_model`` fixture. The kit
    prepares each request the way core does (default size from the model's contract,
    a seed) before the backend sees it."""

    capability: ClassVar[Capability] = Capability.IMAGE
    prompt: ClassVar[str] = "a red circle on a white background"
    #: The size asked for when the model's options declare no contract.
    size: ClassVar[str] = "64x64"
    #: Seconds a cancelled generation may take to free its worker.
    deadline: ClassVar[float] = 60.0

    def prepared(self, loaded: LoadedModel, **fields: object) -> ImageRequest:
        options = loaded.decoded_options()
        contract = image_contract(options)
        size = None if contract else self.size
        fields = {"prompt": self.prompt, "size": size, "seed": 5, **fields}
        request = ImageRequest(model=MODEL_NAME, **fields)  # type: ignore[arg-type]
        return prepare_image_request(
            request, loaded.spec.model_features(options, loaded.model), contract
        )

    def generate(self, loaded: LoadedModel, request: ImageRequest) -> ImageResult:
        return run(cast(Image, loaded.model).generate_image(request))

    def test_returns_n_pngs_of_the_requested_size(self, conformance_model: LoadedModel) -> None:
        request = self.prepared(conformance_model)
        result = self.generate(conformance_model, request)
        assert isinstance(result, ImageResult), type(result)
        assert len(result.images) == request.n
        for image in result.images:
            assert png_size(image) == request.dimensions()
        if result.seeds:
            assert result.seeds == request.image_seeds()

    def test_several_images_only_when_declared(self, conformance_model: LoadedModel) -> None:
        features = conformance_model.spec.model_features(
            conformance_model.decoded_options(), conformance_model.model
        )
        request = self.prepared(conformance_model, n=2)
        if Feature.N in features:
            assert len(self.generate(conformance_model, request).images) == 2
        result = run(service_for(conformance_model).generate_image(request))
        assert len(result.images) == 2, "core's fan-out or the backend must give n images"

    def test_same_seed_gives_the_same_image(self, conformance_model: LoadedModel) -> None:
        features = conformance_model.spec.model_features(
            conformance_model.decoded_options(), conformance_model.model
        )
        if Feature.SEED not in features:
            pytest.skip("the backend does not declare 'seed'")
        request = self.prepared(conformance_model, seed=1234)
        first = self.generate(conformance_model, request).images
        assert self.generate(conformance_model, request).images == first
        other = msgspec.structs.replace(request, seed=4321)
        assert self.generate(conformance_model, other).images != first

    def test_hostile_prompt_raises_only_core_errors(self, conformance_model: LoadedModel) -> None:
        for prompt in HOSTILE_PROMPTS:
            request = self.prepared(conformance_model, prompt=prompt)

            async def attempt(request: ImageRequest = request) -> ImageResult:
                return await cast(Image, conformance_model.model).generate_image(request)

            outcome = run(expect_core_error_or_result(attempt, f"prompt {prompt!r:.60}"))
            if not isinstance(outcome, ModelportError):
                assert len(outcome.images) == request.n

    def test_cancelled_generation_frees_the_worker(self, conformance_model: LoadedModel) -> None:
        baseline = busy_pool_threads()
        request = self.prepared(conformance_model)

        async def cancel_midway() -> ImageResult:
            model = cast(Image, conformance_model.model)
            task = asyncio.ensure_future(model.generate_image(request))
            await asyncio.sleep(0.05)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert_pool_idle("after cancelling a generation", baseline, grace=self.deadline)
            return await asyncio.wait_for(model.generate_image(request), self.deadline)

        assert len(run(cancel_midway()).images) == request.n
