"""The conformance kit against the fake backend that adapter tests use: it must keep the
same contract as a real backend, or adapter tests would prove nothing."""

from __future__ import annotations

import pytest

from modelport.testing.conformance import (
    ChatConformance,
    CompleteConformance,
    EmbedConformance,
    LoadedModel,
    TokenizeConformance,
    load_model,
)
from modelport.testing.fake import FakePlugin


@pytest.fixture(scope="module")
def conformance_model() -> LoadedModel:
    return load_model("fake", plugins=[FakePlugin()])


class TestFakeChat(ChatConformance):
    pass


class TestFakeComplete(CompleteConformance):
    pass


class TestFakeEmbed(EmbedConformance):
    pass


class TestFakeTokenize(TokenizeConformance):
    pass
