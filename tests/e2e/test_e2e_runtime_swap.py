"""One model, two runtimes: the same requests to the sentence-transformers/GGUF models and to
their ONNX twins (converted on first use, then cached), through the real server and SDK.

Cold, the first test that touches a twin waits for its conversion (about 15 s for
all-MiniLM, 45 s for SmolLM2 on two cores); warm, the twins load from the model cache.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import openai
import pytest

pytestmark = pytest.mark.e2e

SENTENCES = [
    "A man is playing a guitar.",
    "Someone strums a guitar.",
    "The stock market fell sharply today.",
    "Paris is the capital of France.",
    "naïve café owners serve crème brûlée",
]
FRANCE = [
    {"role": "system", "content": "You are a helpful assistant. Answer briefly."},
    {"role": "user", "content": "What is the capital of France?"},
]


def _unit(rows: list[list[float]]) -> np.ndarray:
    matrix = np.array(rows)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def _embed(client: openai.OpenAI, model: str, text: str | list[str]) -> list[list[float]]:
    return [d.embedding for d in client.embeddings.create(model=model, input=text).data]


def test_same_embeddings_from_both_runtimes(client: openai.OpenAI) -> None:
    st = client.embeddings.create(model="all-minilm", input=SENTENCES)
    ort = client.embeddings.create(model="all-minilm-onnx", input=SENTENCES)
    cosines = _unit([d.embedding for d in st.data]) * _unit([d.embedding for d in ort.data])
    assert cosines.sum(axis=1).min() >= 0.9999
    assert ort.usage.prompt_tokens == st.usage.prompt_tokens
    assert np.allclose(np.linalg.norm([d.embedding for d in ort.data], axis=1), 1.0, atol=1e-5)


def test_int8_embeddings_stay_within_cosine_0_99_of_sentence_transformers(
    client: openai.OpenAI,
) -> None:
    """The int8 copy (made from the twin on first use): every vector within cosine 0.99
    of sentence-transformers', not the float twin's numbers (it is quantized), and the
    same neighbours: each sentence's paraphrase is still its nearest."""
    st = _unit(_embed(client, "all-minilm", SENTENCES))
    float_twin = _unit(_embed(client, "all-minilm-onnx", SENTENCES))
    int8 = _unit(_embed(client, "all-minilm-onnx-int8", SENTENCES))
    assert (st * int8).sum(axis=1).min() >= 0.99
    assert (float_twin * int8).sum(axis=1).min() < 0.9999  # (really quantized)
    similar = int8 @ int8.T
    assert similar[0, 1] > max(similar[0, 2], similar[0, 3]) + 0.3  # two guitar sentences


def test_onnx_embeddings_take_tokens_and_dimensions(client: openai.OpenAI) -> None:
    by_tokens = client.embeddings.create(model="all-minilm-onnx", input=[[7592, 2088]])
    by_text = _embed(client, "all-minilm-onnx", "hello world")
    assert float(_unit([by_tokens.data[0].embedding, by_text[0]]).prod(axis=0).sum()) > 0.9999
    short = client.embeddings.create(model="all-minilm-onnx", input="hello world", dimensions=32)
    assert len(short.data[0].embedding) == 32


@pytest.mark.parametrize("model", ["all-minilm", "all-minilm-onnx"])
def test_concurrent_clients_each_get_their_own_vectors(client: openai.OpenAI, model: str) -> None:
    texts = [f"sentence {i}: {SENTENCES[i % len(SENTENCES)]}" for i in range(24)]
    alone = _unit(_embed(client, model, texts))
    with ThreadPoolExecutor(max_workers=24) as pool:
        together = list(pool.map(lambda t: _embed(client, model, t)[0], texts))
    cosines = (alone * _unit(together)).sum(axis=1)
    assert cosines.min() > 0.99999, "a client got someone else's vector"


@pytest.mark.parametrize("model", ["smollm2", "smollm2-onnx"])
def test_both_runtimes_answer_the_same_chat(client: openai.OpenAI, model: str) -> None:
    resp = client.chat.completions.create(
        model=model, messages=FRANCE, temperature=0, max_tokens=40
    )
    assert "Paris" in resp.choices[0].message.content
    assert resp.choices[0].finish_reason in ("stop", "length")
    assert resp.model == model
    assert resp.usage.prompt_tokens == 30, "same template, same tokenizer, same prompt"


def test_onnx_streaming_matches_non_streaming(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(
        model="smollm2-onnx", messages=FRANCE, temperature=0, max_tokens=12
    )
    chunks = list(
        client.chat.completions.create(
            model="smollm2-onnx",
            messages=FRANCE,
            temperature=0,
            max_tokens=12,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert len(chunks) > 5, "streamed token by token"
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_onnx_max_tokens_stop_and_seed(client: openai.OpenAI) -> None:
    story = [{"role": "user", "content": "Write a long story about a dragon."}]
    cut = client.chat.completions.create(
        model="smollm2-onnx", messages=story, max_tokens=3, temperature=0
    )
    assert cut.choices[0].finish_reason == "length"
    assert cut.usage.completion_tokens == 3
    count = [{"role": "user", "content": "Count from 1 to 10, separated by commas."}]
    stopped = client.chat.completions.create(
        model="smollm2-onnx", messages=count, temperature=0, max_tokens=40, stop=["4"]
    )
    assert stopped.choices[0].finish_reason == "stop"
    assert "4" not in stopped.choices[0].message.content

    def poem(seed: int) -> str | None:
        return (
            client.chat.completions.create(
                model="smollm2-onnx",
                messages=[{"role": "user", "content": "A poem on the sea."}],
                temperature=1.0,
                seed=seed,
                max_tokens=16,
            )
            .choices[0]
            .message.content
        )

    assert poem(7) == poem(7)


def test_onnx_completions_with_echo(client: openai.OpenAI) -> None:
    resp = client.completions.create(
        model="smollm2-onnx",
        prompt="The capital of France is",
        max_tokens=5,
        temperature=0,
        echo=True,
    )
    assert resp.choices[0].text.startswith("The capital of France is")
    assert resp.usage.completion_tokens == 5


def test_onnx_refuses_what_it_cannot_honour(base_url: str) -> None:
    body = {"model": "smollm2-onnx", "messages": FRANCE, "max_tokens": 4}
    for param, value in [("frequency_penalty", 0.5), ("logprobs", True), ("min_p", 0.1)]:
        resp = httpx.post(
            base_url + "/v1/chat/completions", json={**body, param: value}, timeout=60
        )
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"]["param"] == param


def test_models_show_the_onnx_contract(base_url: str) -> None:
    chat = httpx.get(base_url + "/v1/models/smollm2-onnx").json()
    assert chat["backend"] == "onnx"
    assert chat["capabilities"]["serves"] == ["chat", "complete", "tokenize"]
    assert {"seed", "top_k"} <= set(chat["capabilities"]["features"])
    assert "penalties" not in chat["capabilities"]["features"]
    embed = httpx.get(base_url + "/v1/models/all-minilm-onnx").json()
    assert embed["capabilities"]["serves"] == ["embed", "rerank", "tokenize"]
