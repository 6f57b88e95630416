"""/v1/models, /v1/models/{id} and /health through the real server."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from helpers import assert_valid, smollm2_gguf

pytestmark = pytest.mark.e2e


def test_list_models(client: openai.OpenAI, base_url: str) -> None:
    models = client.models.list()
    ids = [m.id for m in models.data]
    assert ids == [
        "smollm2",
        "all-minilm",
        "smollm2-onnx",
        "all-minilm-onnx",
        "all-minilm-onnx-int8",
    ]
    for m in models.data:
        assert m.object == "model"
        assert m.owned_by == "modelport"
        assert 0 < m.created <= time.time()
    # when the model file was last modified, not when the server started
    assert models.data[0].created == int(smollm2_gguf().stat().st_mtime)
    raw = httpx.get(base_url + "/v1/models").json()
    assert_valid("ListModelsResponse", raw)


def test_retrieve_model_shows_contract(client: openai.OpenAI, base_url: str) -> None:
    model = client.models.retrieve("smollm2")
    assert model.id == "smollm2"
    raw = httpx.get(base_url + "/v1/models/smollm2").json()
    assert_valid("Model", raw)
    assert raw["capabilities"]["serves"] == ["chat", "complete", "tokenize"]
    features = raw["capabilities"]["features"]
    assert {"seed", "tools", "json_schema", "logprobs", "logit_bias"} <= set(features)
    # SmolLM2's GGUF has no fill-in-the-middle tokens: the loaded model narrows the contract
    assert "suffix" not in features
    assert "vision" not in features
    assert raw["backend"] == "gguf"
    alias = httpx.get(base_url + "/v1/models/smollm2:135m").json()
    assert alias["id"] == "smollm2"
    emb = httpx.get(base_url + "/v1/models/all-minilm").json()
    assert emb["capabilities"]["serves"] == ["embed", "rerank", "tokenize"]


def test_health(base_url: str) -> None:
    body = httpx.get(base_url + "/health").json()
    assert body["status"] == "ok"
    assert body["models"]["smollm2"]["state"] == "loaded"
