"""Vision through the real server and the official SDK: image_url parts reach a GGUF
model through llama.cpp's multimodal library (a tiny random llava-style model and its
projector, built offline), fetched by core from data URIs and loopback URLs."""

from __future__ import annotations

import base64
import functools
import http.server
import io
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from PIL import Image

from fixtures.tiny_vision import N_IMAGE_TOKENS, build_tiny_vision
from helpers import ServerProcess, assert_valid, run_example, smollm2_gguf

pytestmark = pytest.mark.e2e


def _image(
    color: tuple[int, int, int], fmt: str = "PNG", size: tuple[int, int] = (40, 32)
) -> bytes:
    img = Image.new("RGB", size, color)
    for x in range(0, size[0], 4):  # a pattern, so images differ in more than their mean
        img.putpixel((x, x % size[1]), (255 - color[0], color[1], 255 - color[2]))
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()


def _data_uri(data: bytes, media: str = "image/png") -> str:
    return f"data:{media};base64,{base64.b64encode(data).decode()}"


RED, BLUE = _image((220, 30, 30)), _image((20, 40, 230))


def _config(tmp: Path, allow_private: bool, mmproj: str | None = None) -> Path:
    """``mmproj``: the projector as a source URL (default: its file name, a path next to
    the model file)."""
    llm, projector = build_tiny_vision(tmp, tokenizer_gguf=smollm2_gguf())
    path = tmp / "plugins.toml"
    path.write_text(
        f'[server]\ndata_dir = "{tmp / "data"}"\n'
        f"[image_fetch]\nallow_private_networks = {str(allow_private).lower()}\n"
        f'[[models]]\nname = "tiny-vision"\nbackend = "gguf"\nsource = "{llm}"\n'
        'parallel = 2\nload = "eager"\n'
        f"[models.options]\nn_ctx = 512\nn_threads = 1\n"
        f'mmproj = "{mmproj or projector.name}"\n'
        f'[[models]]\nname = "tiny-text"\nbackend = "gguf"\nsource = "{llm}"\n'
        "[models.options]\nn_ctx = 512\nn_threads = 1\n"
    )
    return path


HITS: dict[str, int] = {}


@pytest.fixture(scope="module")
def images_site() -> Iterator[str]:
    """A loopback HTTP server with the test images; ``HITS`` counts requests per path."""
    files = {"/red.png": RED, "/blue.png": BLUE, "/once.png": _image((90, 90, 10))}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            HITS[self.path] = HITS.get(self.path, 0) + 1
            body = files.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def vision(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(_config(tmp_path_factory.mktemp("vision"), allow_private=True)) as server:
        yield server


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The same models with the default policy (private addresses refused), the projector
    given as an http source that the server pulls into its model cache at start-up."""
    tmp = tmp_path_factory.mktemp("strict")
    build_tiny_vision(tmp / "site", tokenizer_gguf=smollm2_gguf())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=tmp / "site")
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{site.server_address[1]}/tiny-vision-mmproj.gguf"
    try:
        with ServerProcess(_config(tmp, allow_private=False, mmproj=url)) as server:
            yield server
    finally:
        site.shutdown()
        site.server_close()


def _client(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0)


def _ask(
    server: ServerProcess, url: str | None, *, model: str = "tiny-vision", **extra: Any
) -> Any:
    content: list[dict[str, Any]] = [{"type": "text", "text": "What is in this picture?"}]
    if url is not None:
        content.append({"type": "image_url", "image_url": {"url": url, **extra}})
    return _client(server).chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": content}],
        max_tokens=8,
        temperature=0,
    )


def test_image_tokens_reach_the_model(vision: ServerProcess) -> None:
    text_only = _ask(vision, None)
    with_image = _ask(vision, _data_uri(RED))
    grown = with_image.usage.prompt_tokens - text_only.usage.prompt_tokens
    assert N_IMAGE_TOKENS <= grown <= N_IMAGE_TOKENS + 2
    assert with_image.choices[0].message.content != text_only.choices[0].message.content
    assert_valid("CreateChatCompletionResponse", with_image.model_dump(exclude_unset=True))


def test_different_images_different_answers_same_image_same_answer(vision: ServerProcess) -> None:
    red = _ask(vision, _data_uri(RED)).choices[0].message.content
    blue = _ask(vision, _data_uri(BLUE)).choices[0].message.content
    assert red != blue
    assert _ask(vision, _data_uri(RED)).choices[0].message.content == red


@pytest.mark.parametrize(
    ("fmt", "media"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif")],
)
def test_every_image_format(vision: ServerProcess, fmt: str, media: str) -> None:
    resp = _ask(vision, _data_uri(_image((10, 200, 90), fmt), media), detail="low")
    assert resp.choices[0].finish_reason == "length"
    assert resp.usage.completion_tokens == 8


def test_image_by_url_from_loopback(vision: ServerProcess, images_site: str) -> None:
    by_url = _ask(vision, images_site + "/blue.png", detail="high")
    by_data = _ask(vision, _data_uri(BLUE))
    assert by_url.choices[0].message.content == by_data.choices[0].message.content
    assert by_url.usage.prompt_tokens == by_data.usage.prompt_tokens


def test_n_choices_fetch_the_image_once(vision: ServerProcess, images_site: str) -> None:
    resp = _client(vision).chat.completions.create(
        model="tiny-vision",
        messages=[
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": images_site + "/once.png"}}],
            }
        ],
        max_tokens=4,
        temperature=1.0,
        seed=5,
        n=2,
    )
    assert len(resp.choices) == 2 and HITS["/once.png"] == 1


def test_missing_image_is_a_400(vision: ServerProcess, images_site: str) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        _ask(vision, images_site + "/nothing.png")
    body = err.value.body
    assert isinstance(body, dict)
    assert body["param"] == "messages[0].content[1]" and body["code"] == "image_fetch_failed"


def test_streamed_answer_with_two_images(vision: ServerProcess) -> None:
    stream = _client(vision).chat.completions.create(
        model="tiny-vision",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": _data_uri(RED)}},
                    {"type": "text", "text": "and"},
                    {"type": "image_url", "image_url": {"url": _data_uri(BLUE)}},
                ],
            }
        ],
        max_tokens=6,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = chunks[-1].usage
    assert text and usage is not None and usage.prompt_tokens >= 2 * N_IMAGE_TOKENS


def test_concurrent_image_requests_match_alone(vision: ServerProcess) -> None:
    urls = [_data_uri(RED), _data_uri(BLUE)] * 2
    alone = [_ask(vision, u).choices[0].message.content for u in urls]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda u: _ask(vision, u).choices[0].message.content, urls))
    assert together == alone


def test_model_without_projector_refuses_images(vision: ServerProcess) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        _ask(vision, _data_uri(RED), model="tiny-text")
    body = err.value.body
    assert isinstance(body, dict) and body["param"] == "messages[0].content[1]"


def test_capabilities_show_vision(vision: ServerProcess) -> None:
    def features(model: str) -> list[str]:
        resp = httpx.get(f"{vision.base_url}/v1/models/{model}", headers={"Authorization": "x"})
        return list(resp.json()["capabilities"]["features"])

    assert "vision" in features("tiny-vision")
    assert "vision" not in features("tiny-text")


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "http://127.0.0.1:9/red.png",
        "http://10.0.0.1/red.png",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/red.png",
    ],
)
def test_refused_urls(strict: ServerProcess, url: str) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        _ask(strict, url)
    body = err.value.body
    assert isinstance(body, dict)
    assert body["param"] == "messages[0].content[1]"
    assert body["code"] == "image_url_not_allowed"
    assert body["type"] == "invalid_request_error"
    assert _ask(strict, _data_uri(RED)).choices[0].finish_reason == "length"  # still serving


def test_vision_example_answers(vision: ServerProcess) -> None:
    printed = run_example(vision, "vision.py", MODELPORT_VISION_MODEL="tiny-vision")
    assert printed.strip() and "refused" not in printed


def test_projector_from_an_http_source(strict: ServerProcess) -> None:
    """`mmproj` as a URL: pulled into the model cache, and the model sees images."""
    red, blue = (_ask(strict, _data_uri(img)).choices[0].message.content for img in (RED, BLUE))
    assert red != blue
