"""Embeddings through the real server and the real all-MiniLM-L6-v2."""

from __future__ import annotations

import base64
import math

import numpy as np
import openai
import pytest

from helpers import assert_valid

pytestmark = pytest.mark.e2e


def _cos(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_paraphrases_are_closer(client: openai.OpenAI) -> None:
    resp = client.embeddings.create(
        model="all-minilm",
        input=[
            "A man is playing a guitar.",
            "Someone strums a guitar.",
            "The stock market fell sharply today.",
        ],
    )
    vecs = [d.embedding for d in resp.data]
    assert [d.index for d in resp.data] == [0, 1, 2]
    assert all(len(v) == 384 for v in vecs)
    assert _cos(vecs[0], vecs[1]) > _cos(vecs[0], vecs[2]) + 0.3
    assert math.isclose(np.linalg.norm(vecs[0]), 1.0, rel_tol=1e-4)
    assert resp.usage.prompt_tokens > 10
    assert_valid("CreateEmbeddingResponse", resp.model_dump(exclude_unset=True))


def test_single_string_and_alias(client: openai.OpenAI) -> None:
    resp = client.embeddings.create(model="all-MiniLM-L6-v2", input="hello world")
    assert len(resp.data) == 1
    assert resp.model == "all-MiniLM-L6-v2"


def test_base64_equals_float(base_url: str) -> None:
    import httpx

    body = {"model": "all-minilm", "input": ["hello world", "goodbye"]}
    floats = httpx.post(base_url + "/v1/embeddings", json=body).json()
    b64 = httpx.post(base_url + "/v1/embeddings", json={**body, "encoding_format": "base64"}).json()
    for f, b in zip(floats["data"], b64["data"], strict=True):
        decoded = np.frombuffer(base64.b64decode(b["embedding"]), dtype="<f4")
        assert np.allclose(decoded, f["embedding"], atol=1e-7)


def test_sdk_base64_default_roundtrip(client: openai.OpenAI) -> None:
    # The openai SDK asks for base64 by default and decodes it itself.
    vec = client.embeddings.create(model="all-minilm", input="hello world").data[0].embedding
    explicit = (
        client.embeddings.create(model="all-minilm", input="hello world", encoding_format="float")
        .data[0]
        .embedding
    )
    assert np.allclose(vec, explicit, atol=1e-6)


def test_dimensions_truncate_and_renormalise(client: openai.OpenAI) -> None:
    full = client.embeddings.create(model="all-minilm", input="hello world").data[0].embedding
    short = (
        client.embeddings.create(model="all-minilm", input="hello world", dimensions=64)
        .data[0]
        .embedding
    )
    assert len(short) == 64
    assert math.isclose(np.linalg.norm(short), 1.0, rel_tol=1e-5)
    head = np.array(full[:64])
    assert np.allclose(short, head / np.linalg.norm(head), atol=1e-6)


def test_token_array_input(client: openai.OpenAI) -> None:
    # Token ids of the model's own tokenizer ("hello world" in BERT's vocabulary).
    by_tokens = client.embeddings.create(model="all-minilm", input=[[7592, 2088]])
    by_text = client.embeddings.create(model="all-minilm", input="hello world")
    assert _cos(by_tokens.data[0].embedding, by_text.data[0].embedding) > 0.9999
