"""The conformance kit against the sentence-transformers backend: the real
all-MiniLM-L6-v2 from plugins.toml (embeddings, tokenizing), and a tiny random
cross-encoder built by the tests (reranking, tokenizing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.tiny_cross_encoder import build_tiny_cross_encoder
from modelport.testing.conformance import (
    EmbedConformance,
    LoadedModel,
    RerankConformance,
    TokenizeConformance,
    load_configured,
    load_model,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def conformance_model() -> LoadedModel:
    return load_configured("all-minilm", ROOT / "plugins.toml", options={"threads": 2})


def minilm_folder() -> Path:
    from modelport.core.config import load_config
    from modelport.core.sources import cached_path

    config = load_config(ROOT / "plugins.toml")
    model = next(m for m in config.models if m.name == "all-minilm")
    return cached_path(model.source or "", config.data_path() / "models", ROOT)


class TestSentenceTransformersEmbed(EmbedConformance):
    pass


class TestSentenceTransformersTokenize(TokenizeConformance):
    pass


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    folder = build_tiny_cross_encoder(tmp_path_factory.mktemp("ce"), minilm_folder())
    options = {"kind": "cross-encoder", "threads": 1}
    return load_model("sentence-transformers", source=folder, options=options)


class TestCrossEncoder(RerankConformance):
    @pytest.fixture
    def conformance_model(self, cross_encoder: LoadedModel) -> LoadedModel:
        return cross_encoder


class TestCrossEncoderTokenize(TokenizeConformance):
    @pytest.fixture
    def conformance_model(self, cross_encoder: LoadedModel) -> LoadedModel:
        return cross_encoder
