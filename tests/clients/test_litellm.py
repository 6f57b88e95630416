"""litellm: completion, streaming and embedding, pointed at the server as an
OpenAI-compatible endpoint (the ``openai/`` model prefix with ``api_base``)."""

from __future__ import annotations

import litellm
import pytest

pytestmark = pytest.mark.e2e

ASK = [{"role": "user", "content": "Name a colour."}]


def test_completion_and_streaming(api_base: str) -> None:
    common = {"model": "openai/smollm2", "api_base": api_base, "api_key": "x"}
    resp = litellm.completion(messages=ASK, max_tokens=12, temperature=0, **common)
    text = resp.choices[0].message.content
    assert text and resp.usage.completion_tokens > 0
    chunks = litellm.completion(messages=ASK, max_tokens=12, temperature=0, stream=True, **common)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == text


def test_embedding(api_base: str) -> None:
    resp = litellm.embedding(
        model="openai/all-minilm", input=["hello world", "goodbye"], api_base=api_base, api_key="x"
    )
    assert [len(d["embedding"]) for d in resp.data] == [384, 384]
    assert resp.usage.prompt_tokens > 0
