"""Property-based fuzzing of every route from our own OpenAPI document (schemathesis).

The server is real (uvicorn over TCP on 127.0.0.1, in a thread) with the fake backend, so
invalid bytes, odd headers and streaming go through the same stack as in production. The run
is bounded: ``EXAMPLES`` cases per operation, no deadline per case. It asserts no 5xx, and
every error answer is the OpenAI envelope with string ``type`` and ``code``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

schemathesis = pytest.importorskip("schemathesis")
uvicorn = pytest.importorskip("uvicorn")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from helpers import free_port  # noqa: E402
from modelport.adapters.anthropic import plugin as anthropic_plugin  # noqa: E402
from modelport.adapters.openai.app import create_app  # noqa: E402
from modelport.core.config import decode_config  # noqa: E402
from modelport.core.plugins import load_plugins  # noqa: E402
from modelport.testing.fake import FakePlugin  # noqa: E402

EXAMPLES = 40
CONFIG = """
[server]
max_body_bytes = 65536
[[models]]
name = "fake"
backend = "fake"
load = "eager"
max_queue = 256
rerank = "embeddings"
[[models]]
name = "broken"
backend = "fake"
[models.options]
fail_load = true
"""


def _app() -> Any:
    extra = [("fake", FakePlugin()), ("anthropic", anthropic_plugin)]
    plugins = load_plugins(entry_points=False, extra=extra)
    plugins.collect_backends()
    return create_app(decode_config(CONFIG), plugins)


class _Server:
    def __init__(self) -> None:
        app = _app()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("in-thread server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def live() -> Iterator[_Server]:
    server = _Server()
    try:
        yield server
    finally:
        server.stop()


# The document as the app builds it (no server needed at collection); the test fetches it
# over HTTP too and checks the two agree.
DOCUMENT = _app().openapi_schema.to_schema()
schema = schemathesis.openapi.from_dict(DOCUMENT)


def _aim_at_the_fake_model(body: Any) -> None:
    """Most generated model names are unknown (a 404 at once); aim two cases in three at
    the fake model so that generation, streaming and embedding run too."""
    if isinstance(body, dict) and "model" in body and len(repr(body)) % 3:
        body["model"] = "fake"


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_5xx_and_errors_in_the_protocols_envelope(case: Any, live: _Server) -> None:
    _aim_at_the_fake_model(case.body)
    response = case.call_and_validate(base_url=live.url, checks=[not_a_server_error], timeout=30)
    status = response.status_code
    assert status < 500 or status == 503, (status, response.text)
    if status >= 400 and case.path.startswith("/v1/messages"):  # Anthropic's envelope
        body = response.json()
        assert set(body) == {"type", "error"} and body["type"] == "error", body
        assert set(body["error"]) == {"type", "message"}, body
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]
        assert isinstance(body["error"]["type"], str), body
        return
    if status >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        error = body["error"]
        assert set(error) == {"message", "type", "param", "code"}, error
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error["type"], str) and isinstance(error["code"], str)
    if status == 503:  # only the model configured to fail loading may answer 503
        assert response.json()["error"]["code"] == "model_unavailable"


def test_the_document_names_request_bodies(live: _Server) -> None:
    doc = httpx.get(live.url + "/schema/openapi.json").json()
    assert doc == DOCUMENT
    post = doc["paths"]["/v1/chat/completions"]["post"]
    ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/ChatCompletionRequest"
    assert "messages" in doc["components"]["schemas"]["ChatCompletionRequest"]["required"]
    assert post["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorEnvelope"
    }
    assert httpx.get(live.url + "/schema").status_code == 200
