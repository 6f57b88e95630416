"""The conformance kit against the ctransformers backend, on both kinds of file it loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.testing.conformance import (
    ChatConformance,
    CompleteConformance,
    LoadedModel,
    load_model,
)


@pytest.fixture(scope="module", params=["llama-gguf", "gpt2-ggml"])
def conformance_model(
    request: pytest.FixtureRequest, llama_gguf: Path, gpt2_ggml: Path
) -> LoadedModel:
    if request.param == "llama-gguf":
        return load_model("ctransformers", source=llama_gguf, options={"threads": 1})
    return load_model(
        "ctransformers", source=gpt2_ggml, options={"model_type": "gpt2", "threads": 1}
    )


class TestCtransformersChat(ChatConformance):
    # The tiny models' context is small: an oversized prompt needs few words.
    oversized_words = 2_000


class TestCtransformersComplete(CompleteConformance):
    oversized_words = 2_000
