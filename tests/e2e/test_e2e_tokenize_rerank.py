"""/tokenize, /detokenize and /v1/rerank through the real server: token counts agree
with usage on every runtime (gguf, onnxruntime-genai, sentence-transformers,
onnxruntime), the real all-MiniLM ranks relevant documents first, and a tiny random
cross-encoder served by sentence-transformers gives the library's own scores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from fixtures.tiny_cross_encoder import build_tiny_cross_encoder
from helpers import ROOT, ServerProcess
from modelport.core.config import load_config
from modelport.core.sources import cached_path

pytestmark = pytest.mark.e2e

TEXT = "The quick brown fox jumps over the lazy dog."
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Name a colour."},
]


def _post(base_url: str, path: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(base_url + path, json=body, timeout=120)


def _tokens(base_url: str, **body: object) -> list[int]:
    resp = _post(base_url, "/tokenize", body)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["count"] == len(data["tokens"])
    return list(data["tokens"])


@pytest.mark.parametrize("model", ["smollm2", "smollm2-onnx"])
def test_counts_agree_with_chat_and_completion_usage(
    base_url: str, client: openai.OpenAI, model: str
) -> None:
    chat = client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=1)  # type: ignore[arg-type]
    assert len(_tokens(base_url, model=model, messages=MESSAGES)) == chat.usage.prompt_tokens
    completion = client.completions.create(model=model, prompt=TEXT, max_tokens=1)
    assert len(_tokens(base_url, model=model, content=TEXT)) == completion.usage.prompt_tokens
    assert len(_tokens(base_url, model=model, prompt=TEXT)) == completion.usage.prompt_tokens


@pytest.mark.parametrize("model", ["all-minilm", "all-minilm-onnx"])
def test_counts_agree_with_embedding_usage(
    base_url: str, client: openai.OpenAI, model: str
) -> None:
    embedded = client.embeddings.create(model=model, input=TEXT)
    tokens = _tokens(base_url, model=model, content=TEXT)
    assert len(tokens) == embedded.usage.prompt_tokens
    assert len(_tokens(base_url, model=model, content=TEXT, add_special=False)) == len(tokens) - 2


def test_pieces_and_detokenize(base_url: str) -> None:
    resp = _post(
        base_url, "/v1/tokenize", {"model": "smollm2", "content": TEXT, "with_pieces": True}
    )
    pieces = resp.json()["tokens"]
    assert "".join(p["piece"] for p in pieces) == TEXT  # (SmolLM2 adds no BOS)
    ids = [p["id"] for p in pieces]
    back = _post(base_url, "/detokenize", {"model": "smollm2", "tokens": ids}).json()
    assert back["content"] == back["prompt"] == TEXT
    # a character split over byte tokens: its pieces are bytes
    emoji = _post(base_url, "/tokenize", {"model": "smollm2", "content": "🦊", "with_pieces": True})
    parts = emoji.json()["tokens"]
    if len(parts) > 1:
        assert all(isinstance(p["piece"], list) for p in parts)
        assert bytes(b for p in parts for b in p["piece"]).decode() == "🦊"
    minilm = _post(
        base_url, "/tokenize", {"model": "all-minilm", "content": "Hello", "with_pieces": True}
    )
    assert [p["piece"] for p in minilm.json()["tokens"]] == ["[CLS]", "hello", "[SEP]"]


def test_tokenize_errors_name_the_parameter(base_url: str) -> None:
    cases = [
        ({"model": "smollm2", "content": "a", "messages": MESSAGES}, "messages"),
        ({"model": "smollm2"}, "content"),
        ({"model": "all-minilm", "messages": MESSAGES}, "messages"),
        ({"model": "smollm2", "messages": MESSAGES, "add_special": True}, "add_special"),
        ({"model": "nope", "content": "a"}, "model"),
    ]
    for body, param in cases:
        resp = _post(base_url, "/tokenize", body)
        assert resp.status_code in (400, 404), (body, resp.text)
        assert resp.json()["error"]["param"] == param, (body, resp.text)
    bad = _post(base_url, "/detokenize", {"model": "smollm2", "tokens": [10**9]})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "tokens"
    negative = _post(base_url, "/detokenize", {"model": "smollm2", "tokens": [-1]})
    assert negative.status_code == 400 and negative.json()["error"]["param"] == "tokens[0]"


DOCUMENTS = [
    "The stock market fell sharply on Tuesday.",
    "Knead the dough, let it rise, then bake the loaf at 220 degrees.",
    "Cats sleep for most of the day.",
    "Good bread needs flour, water, yeast and salt.",
    "The train to Paris leaves at noon.",
]


@pytest.mark.parametrize("model", ["all-minilm", "all-minilm-onnx"])
def test_minilm_ranks_relevant_documents_first(base_url: str, model: str) -> None:
    body = {"model": model, "query": "How do I bake bread?", "documents": DOCUMENTS}
    resp = _post(base_url, "/v1/rerank", body)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert {r["index"] for r in data["results"][:2]} == {1, 3}
    scores = [r["relevance_score"] for r in data["results"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == len(DOCUMENTS)
    assert data["results"][0]["document"]["text"] == DOCUMENTS[data["results"][0]["index"]]
    assert data["usage"]["prompt_tokens"] > 0
    top = _post(base_url, "/rerank", {**body, "top_n": 1, "return_documents": False}).json()
    assert [r["index"] for r in top["results"]] == [data["results"][0]["index"]]
    assert "document" not in top["results"][0]


def test_rerank_errors(base_url: str) -> None:
    resp = _post(base_url, "/v1/rerank", {"model": "smollm2", "query": "q", "documents": ["d"]})
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "model"
    resp = _post(base_url, "/v1/rerank", {"model": "all-minilm", "query": "q", "documents": []})
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "documents"
    body = {"model": "all-minilm", "query": "q", "documents": ["d"], "top_n": 0}
    resp = _post(base_url, "/v1/rerank", body)
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "top_n"


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    root = tmp_path_factory.mktemp("ce")
    config = load_config(ROOT / "plugins.toml")
    minilm = next(m for m in config.models if m.name == "all-minilm")
    tokenizer = cached_path(minilm.source or "", config.data_path() / "models", ROOT)
    folder = build_tiny_cross_encoder(root / "model", tokenizer)
    plugins = root / "plugins.toml"
    plugins.write_text(
        f'[server]\ndata_dir = "{root / "data"}"\n'
        f'[[models]]\nname = "tiny-reranker"\nbackend = "sentence-transformers"\n'
        f'source = "{folder}"\n[models.options]\nkind = "cross-encoder"\nthreads = 1\n'
    )
    with ServerProcess(plugins) as server:
        yield server, folder


def test_a_cross_encoder_gives_the_library_scores(
    cross_encoder: tuple[ServerProcess, Path],
) -> None:
    from sentence_transformers import CrossEncoder

    server, folder = cross_encoder
    body = {"model": "tiny-reranker", "query": "How do I bake bread?", "documents": DOCUMENTS}
    resp = _post(server.base_url, "/v1/rerank", body)
    assert resp.status_code == 200, resp.text
    got = {r["index"]: r["relevance_score"] for r in resp.json()["results"]}
    expected = CrossEncoder(str(folder), device="cpu").predict(
        [(body["query"], d) for d in DOCUMENTS]
    )
    assert got == pytest.approx(dict(enumerate(float(x) for x in expected)), abs=1e-5)
    # it serves rerank and tokenize, not embeddings
    embed = _post(server.base_url, "/v1/embeddings", {"model": "tiny-reranker", "input": "x"})
    assert embed.status_code == 400 and embed.json()["error"]["param"] == "model"
    assert _tokens(server.base_url, model="tiny-reranker", content="Hello") == [101, 7592, 102]


@pytest.fixture(scope="module")
def gguf_reranker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    from fixtures.tiny_reranker import build_tiny_reranker
    from helpers import smollm2_gguf

    root = tmp_path_factory.mktemp("gguf-rerank")
    model = build_tiny_reranker(root, tokenizer_gguf=smollm2_gguf())
    plugins = root / "plugins.toml"
    plugins.write_text(
        f'[server]\ndata_dir = "{root / "data"}"\n'
        f'[[models]]\nname = "tiny-gguf-reranker"\nbackend = "gguf"\nsource = "{model}"\n'
        '[models.options]\nembedding = true\npooling = "rank"\nn_ctx = 1024\nn_threads = 1\n'
    )
    with ServerProcess(plugins) as server:
        yield server, model


def _expected_score(model: Path, query: str, document: str) -> float:
    """The score computed apart from the server: the rerank template filled in, the last
    token's hidden state (llama.cpp's last-token pooling, normalised as the head sees
    it), times the classifier head, softmax over yes/no."""
    import llama_cpp
    import numpy as np

    from fixtures.tiny_reranker import RERANK_TEMPLATE, head

    llm = llama_cpp.Llama(
        model_path=str(model),
        embedding=True,
        pooling_type=llama_cpp.LLAMA_POOLING_TYPE_LAST,
        n_ctx=1024,
        n_batch=1024,
        verbose=False,
    )
    prompt = RERANK_TEMPLATE.replace("{query}", query).replace("{document}", document)
    tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    llm._batch.reset()
    llm._batch.add_sequence(tokens, 0, True)
    llm._ctx.decode(llm._batch)
    pooled = llama_cpp.llama_get_embeddings_seq(llm._ctx.ctx, 0)
    hidden = np.array(pooled[: len(head()[0])], np.float64)
    logits = head().astype(np.float64) @ hidden.astype(np.float64)
    odds = np.exp(logits - logits.max())
    return float(odds[0] / odds.sum())


def test_a_gguf_reranker_scores_with_its_classifier_head(
    gguf_reranker: tuple[ServerProcess, Path],
) -> None:
    server, model = gguf_reranker
    query = "How do I bake bread?"
    body = {"model": "tiny-gguf-reranker", "query": query, "documents": DOCUMENTS}
    resp = _post(server.base_url, "/v1/rerank", body)
    assert resp.status_code == 200, resp.text
    got = {r["index"]: r["relevance_score"] for r in resp.json()["results"]}
    for i in (0, 1):
        assert got[i] == pytest.approx(_expected_score(model, query, DOCUMENTS[i]), abs=2e-3)
    assert all(0.0 <= s <= 1.0 for s in got.values()) and len(set(got.values())) == len(DOCUMENTS)
    long = _post(server.base_url, "/v1/rerank", {**body, "documents": ["word " * 3000]})
    assert long.status_code == 400 and long.json()["error"]["param"] == "documents[0]"
