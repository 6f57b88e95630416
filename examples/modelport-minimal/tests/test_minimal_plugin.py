"""The conformance kit against the minimal plugin, found through its entry point."""

from __future__ import annotations

import pytest

from modelport.testing.conformance import ChatConformance, LoadedModel, load_model


@pytest.fixture(scope="module")
def conformance_model() -> LoadedModel:
    return load_model("minimal", options={"delay": 0.001})


class TestMinimalChat(ChatConformance):
    pass
