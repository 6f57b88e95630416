"""The conformance kit against the sentence-transformers backend, with the real
all-MiniLM-L6-v2 from plugins.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.testing.conformance import EmbedConformance, LoadedModel, load_configured

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def conformance_model() -> LoadedModel:
    return load_configured("all-minilm", ROOT / "plugins.toml", options={"threads": 2})


class TestSentenceTransformersEmbed(EmbedConformance):
    pass
