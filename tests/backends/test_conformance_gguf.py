"""The conformance kit against the gguf backend, with the real SmolLM2 from plugins.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.tiny_reranker import build_tiny_reranker
from helpers import smollm2_gguf
from modelport.testing.conformance import (
    ChatConformance,
    CompleteConformance,
    LoadedModel,
    RerankConformance,
    TokenizeConformance,
    load_configured,
    load_model,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def conformance_model() -> LoadedModel:
    # A small context keeps the oversized-prompt checks quick; two threads share the CPU.
    return load_configured(
        "smollm2", ROOT / "plugins.toml", options={"n_ctx": 1024, "n_threads": 2}
    )


class TestGgufChat(ChatConformance):
    pass


class TestGgufComplete(CompleteConformance):
    pass


class TestGgufTokenize(TokenizeConformance):
    pass


@pytest.fixture(scope="module")
def reranker(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    path = build_tiny_reranker(tmp_path_factory.mktemp("rerank"), tokenizer_gguf=smollm2_gguf())
    options = {"embedding": True, "pooling": "rank", "n_ctx": 1024, "n_threads": 1}
    return load_model("gguf", source=path, options=options)


class TestGgufRerank(RerankConformance):
    @pytest.fixture
    def conformance_model(self, reranker: LoadedModel) -> LoadedModel:
        return reranker


class TestGgufRerankerTokenize(TokenizeConformance):
    @pytest.fixture
    def conformance_model(self, reranker: LoadedModel) -> LoadedModel:
        return reranker
