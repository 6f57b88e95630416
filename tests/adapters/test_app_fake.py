"""The adapter in-process with the fake backend: error table, SSE framing, fallbacks."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import pytest
from litestar.testing import TestClient

from modelport.adapters.openai.app import create_app
from modelport.adapters.openai.errors import STATUS
from modelport.core import errors
from modelport.core.config import decode_config
from modelport.core.plugins import load_plugins
from modelport.testing.fake import FakePlugin

CONFIG = """
[server]
max_body_bytes = 4096
[[models]]
name = "fake"
backend = "fake"
load = "eager"
[[models]]
name = "broken"
backend = "fake"
[models.options]
fail_load = true
"""


@pytest.fixture
def http() -> Iterator[TestClient]:
    plugins = load_plugins(entry_points=False, extra=[("fake", FakePlugin())])
    plugins.collect_backends()
    app = create_app(decode_config(CONFIG), plugins)
    with TestClient(app) as client:
        yield client


def _frames(text: str) -> list[str]:
    return [f.removeprefix("data: ") for f in text.split("\n\n") if f]


def test_error_envelope_shape_is_pinned(http: TestClient) -> None:
    resp = http.post(
        "/v1/chat/completions",
        json={"model": "nope", "messages": [{"role": "user", "content": "x"}]},
    )
    assert resp.status_code == 404
    assert resp.json() == {
        "error": {
            "message": "model 'nope' not found; available: fake, broken",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    }


def test_error_table_covers_every_core_error() -> None:
    mapped = {kind for kind, _, _ in STATUS}
    for name in errors.__all__:
        kind = getattr(errors, name)
        assert any(issubclass(kind, m) for m in mapped), name


def test_stream_frames_and_done(http: TestClient) -> None:
    resp = http.post(
        "/v1/chat/completions",
        json={
            "model": "fake",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "one two three"}],
        },
    )
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    frames = _frames(resp.text)
    assert frames[-1] == "[DONE]"
    chunks = [msgspec.json.decode(f) for f in frames[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "one two three"
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": 3,
        "total_tokens": 6,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


def test_core_stop_fallback_for_backends_without_native_stop(http: TestClient) -> None:
    resp = http.post(
        "/v1/chat/completions",
        json={
            "model": "fake",
            "stop": ["thr"],
            "messages": [{"role": "user", "content": "one two three four"}],
        },
    ).json()
    assert resp["choices"][0]["message"]["content"] == "one two "
    assert resp["choices"][0]["finish_reason"] == "stop"
    assert resp["usage"]["completion_tokens"] == 3


def test_model_that_fails_to_load_is_503_and_others_serve(http: TestClient) -> None:
    resp = http.post("/v1/embeddings", json={"model": "broken", "input": "x"})
    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "model_unavailable"
    assert http.get("/health").json()["models"]["broken"]["state"] == "failed"
    assert http.post("/v1/embeddings", json={"model": "fake", "input": "x"}).status_code == 200


def test_body_limit_is_413(http: TestClient) -> None:
    resp = http.post("/v1/embeddings", json={"model": "fake", "input": "x" * 10000})
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "payload_too_large"


def test_api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MP_KEY", "sesame")
    plugins = load_plugins(entry_points=False, extra=[("fake", FakePlugin())])
    plugins.collect_backends()
    config = decode_config(
        '[server]\napi_keys = [{ env = "MP_KEY" }]\n[[models]]\nname = "fake"\nbackend = "fake"\n'
    )
    with TestClient(create_app(config, plugins)) as http:
        assert http.get("/health").status_code == 200
        resp = http.get("/v1/models")
        assert resp.status_code == 401
        assert resp.json()["error"]["type"] == "authentication_error"
        assert http.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert http.get("/v1/models", headers={"Authorization": "Bearer sesame"}).status_code == 200


def test_every_route_is_authenticated_or_explicitly_public(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from modelport.adapters.openai.app import DOCS_PREFIX, PUBLIC_PATHS

    monkeypatch.setenv("MP_KEY", "sesame")
    plugins = load_plugins(entry_points=False, extra=[("fake", FakePlugin())])
    plugins.collect_backends()
    config = decode_config(
        '[server]\napi_keys = [{ env = "MP_KEY" }]\n[[models]]\nname = "fake"\nbackend = "fake"\n'
    )
    app = create_app(config, plugins)
    checked = 0
    with TestClient(app) as http:
        for route in app.routes:
            path = route.path.replace("{model:path}", "fake").replace("{name:str}", "x.png")
            for method in sorted(getattr(route, "methods", {"GET"}) - {"OPTIONS", "HEAD"}):
                resp = http.request(method, path)
                public = route.path in PUBLIC_PATHS or route.path.startswith(DOCS_PREFIX)
                if public:
                    assert resp.status_code != 401, (method, route.path)
                else:
                    assert resp.status_code == 401, (method, route.path, resp.status_code)
                    assert resp.json()["error"]["code"] == "invalid_api_key"
                checked += 1
    assert checked >= 7
