"""Every error case through the real server: status, OpenAI envelope, and still serving."""

from __future__ import annotations

import httpx
import openai
import pytest

from helpers import ServerProcess, assert_valid

pytestmark = pytest.mark.e2e

MSG = [{"role": "user", "content": "hi"}]


def _post(base_url: str, path: str, **kwargs: object) -> httpx.Response:
    return httpx.post(base_url + path, timeout=60, **kwargs)  # type: ignore[arg-type]


def _error(
    resp: httpx.Response,
    status: int,
    *,
    param: str | None = "",
    code: str = "",
    type_: str = "invalid_request_error",
) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert_valid("ErrorResponse", body)
    err = body["error"]
    assert err["type"] == type_
    assert isinstance(err["code"], str) and err["code"]
    assert isinstance(err["message"], str) and err["message"]
    if param != "":
        assert err["param"] == param, err
    if code:
        assert err["code"] == code, err
    return err


CASES = [
    (
        "malformed json",
        "/v1/chat/completions",
        {"content": b'{"model": "smollm2", "mess'},
        400,
        None,
        "invalid_json",
    ),
    (
        "invalid utf-8",
        "/v1/chat/completions",
        {"content": b'{"model": "\xff\xfe"}'},
        400,
        None,
        "invalid_json",
    ),
    (
        "NaN",
        "/v1/chat/completions",
        {
            "content": b'{"model":"smollm2","messages":[{"role":"user","content":"x"}],'
            b'"temperature": NaN}'
        },
        400,
        None,
        "invalid_json",
    ),
    (
        "missing messages",
        "/v1/chat/completions",
        {"json": {"model": "smollm2"}},
        400,
        "messages",
        "missing_required_parameter",
    ),
    (
        "empty messages",
        "/v1/chat/completions",
        {"json": {"model": "smollm2", "messages": []}},
        400,
        "messages",
        "empty_array",
    ),
    (
        "missing model",
        "/v1/chat/completions",
        {"json": {"messages": MSG}},
        400,
        "model",
        "missing_required_parameter",
    ),
    (
        "wrong type",
        "/v1/chat/completions",
        {"json": {"model": "smollm2", "messages": MSG, "temperature": "hot"}},
        400,
        "temperature",
        "invalid_type",
    ),
    (
        "out of range",
        "/v1/chat/completions",
        {"json": {"model": "smollm2", "messages": MSG, "temperature": 5}},
        400,
        "temperature",
        "value_above_maximum",
    ),
    (
        "bad role",
        "/v1/chat/completions",
        {"json": {"model": "smollm2", "messages": [{"role": "wizard", "content": "x"}]}},
        400,
        "messages[0].role",
        None,
    ),
    (
        "message content wrong type",
        "/v1/chat/completions",
        {"json": {"model": "smollm2", "messages": [{"role": "user", "content": 7}]}},
        400,
        "messages[0].content",
        "invalid_type",
    ),
    (
        "image unsupported",
        "/v1/chat/completions",
        {
            "json": {
                "model": "smollm2",
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "what is this?"},
                            {
                                "type": "image_url",
                                "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
                            },
                        ],
                    }
                ],
            }
        },
        400,
        "messages[0].content[1]",
        "unsupported_parameter",
    ),
    (
        "audio refused",
        "/v1/chat/completions",
        {"json": {"model": "smollm2", "messages": MSG, "audio": {"voice": "x", "format": "mp3"}}},
        400,
        "audio",
        "unsupported_parameter",
    ),
    (
        "embedding model asked to chat",
        "/v1/chat/completions",
        {"json": {"model": "all-minilm", "messages": MSG}},
        400,
        "model",
        "model_not_supported",
    ),
    (
        "chat model asked to embed",
        "/v1/embeddings",
        {"json": {"model": "smollm2", "input": "x"}},
        400,
        "model",
        "model_not_supported",
    ),
    (
        "empty embedding input",
        "/v1/embeddings",
        {"json": {"model": "all-minilm", "input": ""}},
        400,
        "input",
        "empty_string",
    ),
    (
        "empty embedding list",
        "/v1/embeddings",
        {"json": {"model": "all-minilm", "input": []}},
        400,
        "input",
        "empty_array",
    ),
    (
        "bad encoding_format",
        "/v1/embeddings",
        {"json": {"model": "all-minilm", "input": "x", "encoding_format": "hex"}},
        400,
        "encoding_format",
        "invalid_value",
    ),
    (
        "dimensions too large",
        "/v1/embeddings",
        {"json": {"model": "all-minilm", "input": "x", "dimensions": 1000}},
        400,
        "dimensions",
        None,
    ),
    (
        "bad completion prompt",
        "/v1/completions",
        {"json": {"model": "smollm2", "prompt": [1, "a"]}},
        400,
        "prompt",
        "invalid_type",
    ),
    (
        "logit_bias outside the vocabulary",
        "/v1/chat/completions",
        {"json": {"model": "smollm2", "messages": MSG, "logit_bias": {"999999": -100}}},
        400,
        "logit_bias",
        "invalid_value",
    ),
    (
        "token prompt outside the vocabulary",
        "/v1/completions",
        {"json": {"model": "smollm2", "prompt": [1, 2, 10000000]}},
        400,
        "prompt",
        "invalid_value",
    ),
    (
        "token prompt outside the vocabulary, no echo",
        "/v1/completions",
        {"json": {"model": "smollm2", "prompt": [999999], "max_tokens": 1}},
        400,
        "prompt",
        "invalid_value",
    ),
    (
        "deeply nested JSON",
        "/v1/chat/completions",
        {
            "content": b'{"model": "smollm2", "messages": [{"role": "user", "content": "x"}], '
            b'"function_call": ' + b"[" * 100000 + b"]" * 100000 + b"}"
        },
        400,
        None,
        None,
    ),
    (
        "logit_bias key that is not a token id",
        "/v1/chat/completions",
        {"json": {"model": "smollm2", "messages": MSG, "logit_bias": {"\u00b2": 1}}},
        400,
        "logit_bias",
        "invalid_value",
    ),
    (
        "top_logprobs over 20",
        "/v1/chat/completions",
        {"json": {"model": "smollm2", "messages": MSG, "logprobs": True, "top_logprobs": 21}},
        400,
        "top_logprobs",
        "value_above_maximum",
    ),
    (
        "tool_choice names an unknown function",
        "/v1/chat/completions",
        {
            "json": {
                "model": "smollm2",
                "messages": MSG,
                "tool_choice": {"type": "function", "function": {"name": "nope"}},
                "tools": [
                    {
                        "type": "function",
                        "function": {"name": "f", "parameters": {"type": "object"}},
                    }
                ],
            }
        },
        400,
        "tool_choice",
        "invalid_value",
    ),
    (
        "suffix unsupported",
        "/v1/completions",
        {"json": {"model": "smollm2", "prompt": "x", "suffix": "y"}},
        400,
        "suffix",
        "unsupported_parameter",
    ),
    (
        "stream_options without stream",
        "/v1/chat/completions",
        {"json": {"model": "smollm2", "messages": MSG, "stream_options": {"include_usage": True}}},
        400,
        "stream_options",
        None,
    ),
    (
        "too many stops",
        "/v1/chat/completions",
        {"json": {"model": "smollm2", "messages": MSG, "stop": ["x"] * 5000}},
        400,
        "stop",
        "array_above_max_length",
    ),
]


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "param", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_request(
    base_url: str, path: str, kwargs: dict, status: int, param: str | None, code: str | None
) -> None:
    _error(_post(base_url, path, **kwargs), status, param=param, code=code or "")


def test_unknown_model_is_404(base_url: str, client: openai.OpenAI) -> None:
    err = _error(
        _post(base_url, "/v1/chat/completions", json={"model": "llama3", "messages": MSG}),
        404,
        param="model",
        code="model_not_found",
    )
    assert "smollm2" in err["message"] and "all-minilm" in err["message"]
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("llama3")
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="nope", input="x")


def test_context_length_exceeded(base_url: str, client: openai.OpenAI) -> None:
    long_text = "word " * 9000
    err = _error(
        _post(
            base_url,
            "/v1/chat/completions",
            json={"model": "smollm2", "messages": [{"role": "user", "content": long_text}]},
        ),
        400,
        param="messages",
        code="context_length_exceeded",
    )
    assert "8192" in err["message"]
    _error(
        _post(
            base_url,
            "/v1/completions",
            json={"model": "smollm2", "prompt": "hi", "max_tokens": 100000},
        ),
        400,
        param="max_tokens",
        code="context_length_exceeded",
    )
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="smollm2", stream=True, messages=[{"role": "user", "content": long_text}]
        )
    assert info.value.code == "context_length_exceeded"


def test_unknown_route_and_method(base_url: str) -> None:
    _error(httpx.get(base_url + "/v1/nothing-here"), 404, code="not_found")
    _error(httpx.put(base_url + "/v1/chat/completions"), 405, code="method_not_allowed")


def test_unknown_fields_are_tolerated(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="smollm2",
        messages=MSG,
        max_tokens=2,
        temperature=0,
        extra_body={"some_future_field": {"x": 1}},
    )
    assert resp.choices[0].finish_reason == "length"


def test_still_serving_after_errors(server: ServerProcess, client: openai.OpenAI) -> None:
    for case in CASES:
        _post(server.base_url, case[1], **case[2])
    assert server.alive()
    resp = client.chat.completions.create(model="smollm2", messages=MSG, max_tokens=2)
    assert resp.choices[0].message.content is not None
