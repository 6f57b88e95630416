"""/v1/images/generations in-process: wire mapping, both response formats, the URL store."""

from __future__ import annotations

import base64
import os
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from litestar.testing import TestClient

from helpers import assert_valid
from modelport.adapters.openai.app import create_app
from modelport.adapters.openai.images.mapping import image_request
from modelport.adapters.openai.images.store import ImageStore
from modelport.adapters.openai.images.wire import ImageGenerationRequest
from modelport.core import BackendRegistry, BackendSpec, Capability, Feature, hookimpl
from modelport.core.config import decode_config
from modelport.core.errors import Unsupported
from modelport.core.images import ImageContract, ImageRequest, ImageResult
from modelport.core.plugins import load_plugins
from modelport.testing.fake import FakePlugin

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def solid_png(width: int, height: int, shade: int) -> bytes:
    """A valid greyscale PNG of one shade, without any imaging library."""
    rows = b"".join(b"\x00" + bytes([shade % 256]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows))
        + (_chunk(b"IEND", b""))
    )


class SolidImages:
    """An image model whose image i is a solid PNG shaded by its seed."""

    async def generate_image(self, request: ImageRequest) -> ImageResult:
        width, height = request.dimensions()
        seeds = request.image_seeds()
        return ImageResult(images=[solid_png(width, height, s) for s in seeds], seeds=seeds)


class SolidOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    def image_contract(self) -> ImageContract:
        return ImageContract(sizes=("16x16", "32x8"), qualities=frozenset({"low"}))


class SolidPlugin:
    @hookimpl
    def register_backends(self, registry: BackendRegistry) -> None:
        registry.add(
            BackendSpec(
                name="solid",
                options=SolidOptions,
                capabilities=frozenset({Capability.IMAGE}),
                features=frozenset({Feature.SEED, Feature.N}),
                load=lambda ctx: SolidImages(),
                needs_source=False,
            )
        )


CONFIG = """
[server]
data_dir = "{data}"
[[models]]
name = "solid"
backend = "solid"
[[models]]
name = "chatty"
backend = "fake"
"""


@pytest.fixture
def http(tmp_path: Path) -> Iterator[TestClient]:  # type: ignore[type-arg]
    plugins = load_plugins(
        entry_points=False, extra=[("solid", SolidPlugin()), ("fake", FakePlugin())]
    )
    plugins.collect_backends()
    app = create_app(decode_config(CONFIG.format(data=tmp_path)), plugins)
    with TestClient(app) as client:
        yield client


def _generate(http: TestClient, **body: object) -> dict:  # type: ignore[type-arg]
    resp = http.post("/v1/images/generations", json={"model": "solid", "prompt": "p", **body})
    assert resp.status_code == 200, resp.text
    assert_valid("ImagesResponse", resp.json())
    return resp.json()  # type: ignore[no-any-return]


def test_b64_json_gives_n_pngs(http: TestClient) -> None:  # type: ignore[type-arg]
    out = _generate(http, n=2, size="32x8", response_format="b64_json", seed=3)
    pngs = [base64.b64decode(item["b64_json"]) for item in out["data"]]
    assert pngs == [solid_png(32, 8, 3), solid_png(32, 8, 4)]
    assert out["output_format"] == "png"
    assert abs(out["created"] - time.time()) < 60


def test_url_is_the_default_and_serves_the_png(http: TestClient, tmp_path: Path) -> None:  # type: ignore[type-arg]
    out = _generate(http, seed=9)
    url = out["data"][0]["url"]
    assert url.startswith(str(http.base_url).rstrip("/") + "/v1/images/files/")
    got = http.get(url)
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/png"
    assert got.content == solid_png(16, 16, 9)
    assert len(list((tmp_path / "images").glob("*.png"))) == 1


@pytest.mark.parametrize("name", ["0" * 32 + ".png", "..%2Fplugins.toml", "x.png"])
def test_unknown_image_names_are_404(http: TestClient, name: str) -> None:  # type: ignore[type-arg]
    resp = http.get(f"/v1/images/files/{name}")
    assert resp.status_code == 404
    assert resp.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"size": "64x64"}, "size", "invalid_value"),
        ({"size": "huge"}, "size", "invalid_value"),
        ({"n": 11}, "n", "value_above_maximum"),
        ({"n": 0}, "n", "value_below_minimum"),
        ({"quality": "high"}, "quality", "unsupported_parameter"),
        ({"style": "vivid"}, "style", "unsupported_parameter"),
        ({"stream": True}, "stream", "unsupported_parameter"),
        ({"output_format": "jpeg"}, "output_format", "unsupported_parameter"),
        ({"background": "transparent"}, "background", "unsupported_parameter"),
        ({"response_format": "gif"}, "response_format", "invalid_value"),
        ({"seed": -1}, "seed", "value_below_minimum"),
        ({"prompt": ""}, "prompt", "empty_string"),
        ({"model": "chatty"}, "model", "model_not_supported"),
    ],
)
def test_bad_requests_are_400_naming_the_parameter(
    http: TestClient,  # type: ignore[type-arg]
    body: dict[str, object],
    param: str,
    code: str,
) -> None:
    resp = http.post("/v1/images/generations", json={"model": "solid", "prompt": "p", **body})
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert (error["param"], error["code"]) == (param, code)


def test_missing_model_and_unknown_fields(http: TestClient) -> None:  # type: ignore[type-arg]
    resp = http.post("/v1/images/generations", json={"prompt": "p"})
    assert resp.status_code == 400
    assert resp.json()["error"]["param"] == "model"
    _generate(http, response_format="b64_json", some_future_field=1, quality="auto")


def test_wire_to_core_mapping() -> None:
    body = msgspec.json.decode(
        b'{"model": "m", "prompt": "p", "n": 2, "size": "auto", "quality": "auto", "seed": 4,'
        b' "moderation": "low", "background": "opaque", "user": "u"}',
        type=ImageGenerationRequest,
    )
    assert image_request(body) == ImageRequest(
        model="m", prompt="p", n=2, size="auto", seed=4, quality=None, user="u"
    )
    with pytest.raises(Unsupported):
        image_request(msgspec.structs.replace(body, partial_images=2))


def test_store_expires_and_sweeps_old_images(tmp_path: Path) -> None:
    store = ImageStore(tmp_path, lifetime=60.0)
    fresh, old = store.save(b"fresh"), store.save(b"old")
    stale = time.time() - 120
    os.utime(tmp_path / old, (stale, stale))
    assert store.path(fresh) == tmp_path / fresh
    assert store.path(old) is None
    assert store.sweep() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [fresh]
