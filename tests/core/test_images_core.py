"""Image requests in core: the contract check, defaults, seeds, the n fan-out, the queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
import pytest

from modelport.core import BackendRegistry, BackendSpec, Capability, Feature, hookimpl
from modelport.core.config import decode_config
from modelport.core.errors import BackendError, InvalidRequest, Overloaded, Unsupported
from modelport.core.images import (
    ImageContract,
    ImageRequest,
    ImageResult,
    image_contract,
    parse_size,
    prepare_image_request,
)
from modelport.core.manager import ModelManager
from modelport.core.plugins import load_plugins
from modelport.core.service import ModelService

CONTRACT = ImageContract(
    sizes=("512x512", "768x512"), qualities=frozenset({"high"}), styles=frozenset({"vivid"})
)
SEEDED = frozenset({Feature.SEED})


def _prepare(features: frozenset[Feature] = SEEDED, **fields: object) -> ImageRequest:
    request = msgspec.convert({"model": "m", "prompt": "p", **fields}, ImageRequest)
    return prepare_image_request(request, features, CONTRACT)


def test_default_size_is_the_first_declared_and_auto_means_default() -> None:
    assert _prepare().size == "512x512"
    assert _prepare(size="auto").size == "512x512"
    assert _prepare(size="768x512").dimensions() == (768, 512)


@pytest.mark.parametrize("size", ["1024x1024", "512", "512x512x3", "0x512", "-1x5", "axb"])
def test_a_size_outside_the_contract_is_a_400_naming_size(size: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        _prepare(size=size)
    assert info.value.param == "size"
    assert type(info.value) is InvalidRequest


def test_unsupported_size_message_lists_the_supported_ones() -> None:
    with pytest.raises(InvalidRequest, match="supported: 512x512, 768x512"):
        _prepare(size="256x256")


def test_quality_and_style_only_where_the_model_honours_them() -> None:
    assert _prepare(quality="high", style="vivid").quality == "high"
    with pytest.raises(Unsupported) as info:
        _prepare(quality="low")
    assert info.value.param == "quality" and "honours: high" in info.value.message
    with pytest.raises(Unsupported) as info:
        _prepare(style="natural")
    assert info.value.param == "style"


def test_seed_needs_the_feature_and_is_filled_in_when_absent() -> None:
    with pytest.raises(Unsupported) as info:
        _prepare(features=frozenset(), seed=1)
    assert info.value.param == "seed"
    seed = _prepare().seed
    assert seed is not None and 0 <= seed < 2**32


@pytest.mark.parametrize("n", [0, 11])
def test_n_outside_1_to_10_is_a_400(n: int) -> None:
    with pytest.raises(InvalidRequest) as info:
        _prepare(n=n)
    assert info.value.param == "n"


def test_image_seeds_count_up_and_wrap() -> None:
    request = ImageRequest(model="m", prompt="p", n=3, seed=2**63 - 2)
    assert request.image_seeds() == [2**63 - 2, 2**63 - 1, 0]


def test_parse_size_and_contract_lookup() -> None:
    assert parse_size("48x32") == (48, 32)
    assert image_contract(object()) is None


# --- through the service, with a scriptable image backend ---------------------------------


class FakeImageOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    batches: bool = True
    delay: float = 0.0
    extra_image: bool = False

    def image_contract(self) -> ImageContract:
        return ImageContract(sizes=("16x16", "32x16"))


class FakeImageModel:
    def __init__(self, options: FakeImageOptions):
        self.options = options
        self.calls: list[ImageRequest] = []

    async def generate_image(self, request: ImageRequest) -> ImageResult:
        self.calls.append(request)
        await asyncio.sleep(self.options.delay)
        seeds = request.image_seeds()
        images = [f"{request.size}:{seed}".encode() for seed in seeds]
        return ImageResult(images=images + [b"x"] * self.options.extra_image, seeds=seeds)


def _fake_features(options: FakeImageOptions) -> frozenset[Feature]:
    return frozenset({Feature.SEED, Feature.N}) if options.batches else frozenset({Feature.SEED})


class FakeImagePlugin:
    @hookimpl
    def register_backends(self, registry: BackendRegistry) -> None:
        registry.add(
            BackendSpec(
                name="fake-image",
                options=FakeImageOptions,
                capabilities=frozenset({Capability.IMAGE}),
                features_for=_fake_features,
                load=lambda ctx: FakeImageModel(ctx.options),
                needs_source=False,
            )
        )


CONFIG = """
[[models]]
name = "batched"
backend = "fake-image"
[[models]]
name = "single"
backend = "fake-image"
options = { batches = false }
[[models]]
name = "slow"
backend = "fake-image"
max_queue = 0
options = { delay = 0.3 }
[[models]]
name = "broken"
backend = "fake-image"
options = { extra_image = true }
"""


@pytest.fixture
async def service() -> AsyncIterator[ModelService]:
    plugins = load_plugins(entry_points=False, extra=[("fake-image", FakeImagePlugin())])
    plugins.collect_backends()
    manager = ModelManager(decode_config(CONFIG), plugins)
    try:
        yield ModelService(manager)
    finally:
        await manager.close()


def _calls(service: ModelService, name: str) -> list[ImageRequest]:
    model = service.manager.entries[name].model
    assert isinstance(model, FakeImageModel)
    return model.calls


async def test_a_batching_backend_gets_one_call(service: ModelService) -> None:
    result = await service.generate_image(ImageRequest(model="batched", prompt="p", n=3, seed=5))
    assert result.images == [b"16x16:5", b"16x16:6", b"16x16:7"]
    assert [(c.n, c.seed) for c in _calls(service, "batched")] == [(3, 5)]


async def test_n_fans_out_when_the_backend_cannot_batch(service: ModelService) -> None:
    request = ImageRequest(model="single", prompt="p", n=3, size="32x16", seed=5)
    result = await service.generate_image(request)
    assert result.images == [b"32x16:5", b"32x16:6", b"32x16:7"]
    assert result.seeds == [5, 6, 7]
    assert [(c.n, c.seed) for c in _calls(service, "single")] == [(1, 5), (1, 6), (1, 7)]


async def test_a_full_queue_is_overloaded(service: ModelService) -> None:
    first = asyncio.create_task(service.generate_image(ImageRequest(model="slow", prompt="p")))
    await asyncio.sleep(0.1)
    with pytest.raises(Overloaded):
        await service.generate_image(ImageRequest(model="slow", prompt="p"))
    assert len((await first).images) == 1


async def test_a_wrong_image_count_is_a_backend_error(service: ModelService) -> None:
    with pytest.raises(BackendError, match="returned 2 images for n=1"):
        await service.generate_image(ImageRequest(model="broken", prompt="p"))


async def test_bad_requests_fail_before_the_model_loads(service: ModelService) -> None:
    with pytest.raises(InvalidRequest):
        await service.generate_image(ImageRequest(model="single", prompt="p", size="8x8"))
    assert service.manager.entries["single"].model is None
