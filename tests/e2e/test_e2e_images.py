"""Image generation through the real server and the real diffusers backend.

No diffusion weights exist offline, so the session builds a tiny, randomly initialised
StableDiffusionPipeline (a few seconds on CPU, tokenizer included, nothing downloaded),
saves it as a local pipeline directory and serves it from a test plugins.toml.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import openai
import pytest

from fixtures.tiny_diffusers import build_tiny_pipeline
from helpers import ServerProcess, assert_valid, run_example
from modelport.backends.diffusers import DiffusersOptions
from modelport.backends.diffusers.model import DiffusersImageModel
from modelport.core import LoadContext, MissingDependency
from modelport.core.config import decode_options
from modelport.core.errors import ConfigError
from modelport.core.images import ImageRequest

pytestmark = pytest.mark.e2e

PIL = pytest.importorskip("PIL.Image", reason="needs the images extra")
pytest.importorskip("diffusers", reason="needs the images extra")

MODEL = "tiny-sd"
CONFIG = """
[server]
data_dir = "{data}"

[[models]]
name = "{model}"
backend = "diffusers"
source = "{source}"
load = "eager"

[models.options]
steps = 2
sizes = ["64x64", "48x32"]
quality_steps = {{ low = 1, high = 3 }}

[[models]]
name = "{model}-slow"
backend = "diffusers"
source = "{source}"
load = "eager"

[models.options]
steps = 900
sizes = ["32x32"]
"""


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd") / "pipeline")


@pytest.fixture(scope="session")
def image_server(
    tmp_path_factory: pytest.TempPathFactory, tiny_pipeline: Path
) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("images")
    config = root / "plugins.toml"
    config.write_text(CONFIG.format(data=root / "data", model=MODEL, source=tiny_pipeline))
    proc = ServerProcess(config)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def images_client(image_server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=image_server.base_url + "/v1", api_key="modelport", max_retries=0)


def _png_size(png: bytes) -> tuple[int, int]:
    with PIL.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        image.load()
        return image.size  # type: ignore[no-any-return]


def _generate(client: openai.OpenAI, **kwargs: object) -> list[bytes]:
    resp = client.images.generate(model=MODEL, prompt="a red fox", **kwargs)  # type: ignore[call-overload]
    assert_valid("ImagesResponse", resp.model_dump(exclude_unset=True))
    return [base64.b64decode(image.b64_json) for image in resp.data]


def test_n_pngs_of_the_requested_size(images_client: openai.OpenAI) -> None:
    pngs = _generate(
        images_client, n=3, size="48x32", response_format="b64_json", extra_body={"seed": 7}
    )
    assert len(pngs) == 3
    assert all(_png_size(png) == (48, 32) for png in pngs)
    assert len(set(pngs)) == 3  # image i comes from seed + i


def test_same_seed_gives_identical_bytes(images_client: openai.OpenAI) -> None:
    def once(seed: int) -> bytes:
        return _generate(images_client, response_format="b64_json", extra_body={"seed": seed})[0]

    first = once(42)
    assert once(42) == first
    assert once(43) != first
    assert _png_size(first) == (64, 64)  # the first configured size is the default


def test_url_form_is_downloadable(images_client: openai.OpenAI) -> None:
    resp = images_client.images.generate(model=MODEL, prompt="a lighthouse", n=2)
    assert_valid("ImagesResponse", resp.model_dump(exclude_unset=True))
    for image in resp.data:
        assert image.url and image.b64_json is None
        got = httpx.get(image.url, timeout=10)
        assert got.status_code == 200
        assert got.headers["content-type"] == "image/png"
        assert _png_size(got.content) == (64, 64)
    missing = httpx.get(resp.data[0].url.rsplit("/", 1)[0] + "/" + "0" * 32 + ".png")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_unsupported_size_is_400_and_the_server_keeps_serving(
    images_client: openai.OpenAI, image_server: ServerProcess
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        images_client.images.generate(model=MODEL, prompt="x", size="1024x1024")
    error = info.value.response.json()["error"]
    assert error["param"] == "size"
    assert "64x64, 48x32" in error["message"]
    with pytest.raises(openai.BadRequestError) as info:
        images_client.images.generate(model=MODEL, prompt="x", n=11)
    assert info.value.response.json()["error"]["param"] == "n"
    assert image_server.alive()
    assert len(_generate(images_client, response_format="b64_json")) == 1


def test_a_client_that_hangs_up_stops_its_generation(image_server: ServerProcess) -> None:
    body = {"model": f"{MODEL}-slow", "prompt": "p", "response_format": "b64_json"}
    url = image_server.base_url + "/v1/images/generations"
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url, json=body, timeout=1.5)
    cancelled = f"image generation for '{MODEL}-slow' cancelled"
    deadline = time.monotonic() + 10
    while cancelled not in image_server.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cancelled in image_server.output()


def test_quality_is_honoured_where_configured(images_client: openai.OpenAI) -> None:
    assert len(_generate(images_client, quality="low", response_format="b64_json")) == 1
    with pytest.raises(openai.BadRequestError) as info:
        images_client.images.generate(model=MODEL, prompt="x", quality="hd")
    assert info.value.response.json()["error"]["param"] == "quality"
    with pytest.raises(openai.BadRequestError) as info:
        images_client.images.generate(model=MODEL, prompt="x", style="vivid")
    assert info.value.response.json()["error"]["param"] == "style"


def test_example_runs(image_server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "example.png"
    printed = run_example(
        image_server,
        "image_generation.py",
        MODELPORT_IMAGE_MODEL=MODEL,
        MODELPORT_IMAGE_OUT=str(out),
    )
    assert _png_size(out.read_bytes()) == (64, 64)
    assert str(out) in printed


# --- the backend in-process: progress and cancellation ------------------------------------


def _load_in_process(path: Path, **options: object) -> DiffusersImageModel:
    opts = decode_options({"sizes": ["32x32"], **options}, DiffusersOptions, index=0)
    return DiffusersImageModel.load(LoadContext(name="tiny", path=path, options=opts))


async def test_long_generations_log_progress(
    tiny_pipeline: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = _load_in_process(tiny_pipeline, steps=3, progress_every=1e-6)
    request = ImageRequest(model="tiny", prompt="p", n=2, size="32x32", seed=1)
    with caplog.at_level(logging.INFO, logger="modelport.backends.diffusers"):
        result = await model.generate_image(request)
    assert len(result.images) == 2 and result.seeds == [1, 2]
    messages = [r.getMessage() for r in caplog.records]
    assert "model 'tiny': step 3/3, 0 of 2 images done" in " ".join(messages)
    assert any("2 image(s) of 32x32, 3 steps" in m for m in messages)


async def test_a_cancelled_generation_stops_and_frees_the_pipeline(tiny_pipeline: Path) -> None:
    model = _load_in_process(tiny_pipeline, steps=900)
    request = ImageRequest(model="tiny", prompt="p", size="32x32", seed=1)
    task = asyncio.create_task(model.generate_image(request))
    await asyncio.sleep(0.5)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 5
    assert not model._lock.locked()


# --- the backend's options (no server needed) -------------------------------------------


def test_options_give_the_image_contract() -> None:
    options = decode_options(
        {
            "sizes": ["512x512", "768x512"],
            "quality_steps": {"high": 50},
            "styles": {"vivid": "dramatic lighting"},
        },
        DiffusersOptions,
        index=0,
    )
    contract = options.image_contract()
    assert contract.sizes == ("512x512", "768x512")
    assert contract.qualities == {"high"} and contract.styles == {"vivid"}


@pytest.mark.parametrize(
    ("options", "where"),
    [
        ({"sizes": ["500x500"]}, "models[0].options"),
        ({"sizes": ["big"]}, "models[0].options.sizes[0]"),
        ({"quality_steps": {"ultra": 5}}, "models[0].options"),
        ({"styles": {"noir": "black and white"}}, "models[0].options"),
        ({"scheduler": "magic"}, "models[0].options.scheduler"),
        ({"step": 3}, "models[0].options"),
    ],
)
def test_bad_options_name_their_toml_path(options: dict[str, object], where: str) -> None:
    with pytest.raises(ConfigError) as info:
        decode_options(options, DiffusersOptions, index=0)
    assert info.value.param is not None and info.value.param.startswith(where)


def test_missing_runtime_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "diffusers", None)
    ctx = LoadContext(name="m", path=None, options=msgspec.convert({}, DiffusersOptions))
    with pytest.raises(MissingDependency, match=r"pip install 'modelport\[images\]'"):
        DiffusersImageModel.load(ctx)
