"""The conformance kit against the gguf backend, with the real SmolLM2 from plugins.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.testing.conformance import (
    ChatConformance,
    CompleteConformance,
    LoadedModel,
    TokenizeConformance,
    load_configured,
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
