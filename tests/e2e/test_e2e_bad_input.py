"""Bad input still missing from test_e2e_errors.py, through the real server and models.

Content-Type is not checked: a body is decoded as JSON whatever its declared type (as the
OpenAI SDK always sends JSON and ``curl -d`` labels it form data), so a JSON body under
``text/plain`` or no type at all is served, and a body that is not JSON is a 400
``invalid_json`` in the OpenAI envelope, never a 415 or a 500.
"""

from __future__ import annotations

import httpx
import pytest

from helpers import assert_valid

pytestmark = pytest.mark.e2e

MSG = [{"role": "user", "content": "hi"}]
CHAT = b'{"model": "smollm2", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}'


def _post(base_url: str, path: str, **kwargs: object) -> httpx.Response:
    return httpx.post(base_url + path, timeout=60, **kwargs)  # type: ignore[arg-type]


def _error(resp: httpx.Response, status: int, code: str, param: str | None = None) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert_valid("ErrorResponse", body)
    assert body["error"]["code"] == code, body
    assert body["error"]["param"] == param, body


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_json_body_is_served_whatever_its_content_type(
    base_url: str, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    resp = _post(base_url, "/v1/chat/completions", content=CHAT, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["object"] == "chat.completion"


def test_form_and_multipart_bodies_are_invalid_json(base_url: str) -> None:
    form = _post(base_url, "/v1/embeddings", data={"model": "all-minilm", "input": "x"})
    _error(form, 400, "invalid_json")
    multipart = _post(
        base_url, "/v1/embeddings", files={"input": ("a.txt", b"x")}, data={"model": "all-minilm"}
    )
    _error(multipart, 400, "invalid_json")


def test_chat_max_tokens_beyond_the_context(base_url: str) -> None:
    body = {"model": "smollm2", "messages": MSG, "max_tokens": 100000}
    _error(
        _post(base_url, "/v1/chat/completions", json=body),
        400,
        "context_length_exceeded",
        "max_tokens",
    )
    _error(
        _post(base_url, "/v1/chat/completions", json={**body, "stream": True}),
        400,
        "context_length_exceeded",
        "max_tokens",
    )


def test_the_most_stop_sequences_allowed_are_served(base_url: str) -> None:
    stops = [f"never-seen-{i}-" + "x" * 230 for i in range(16)]
    body = {"model": "smollm2", "messages": MSG, "max_tokens": 2, "stop": stops}
    assert _post(base_url, "/v1/chat/completions", json=body).status_code == 200
    _error(
        _post(base_url, "/v1/chat/completions", json={**body, "stop": ["x" * 257]}),
        400,
        "string_above_max_length",
        "stop[0]",
    )


def test_request_id_and_metrics_on_the_real_server(base_url: str) -> None:
    resp = httpx.get(base_url + "/v1/models", headers={"X-Request-Id": "e2e-1"})
    assert resp.headers["x-request-id"] == "e2e-1"
    text = httpx.get(base_url + "/metrics").text
    assert 'modelport_model_loaded{backend="gguf",model="smollm2"}' in text
    assert "modelport_requests_total" in text
