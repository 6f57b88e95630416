"""llama-index: OpenAILike (chat and completion) and OpenAILikeEmbedding."""

from __future__ import annotations

import pytest
from llama_index.core.llms import ChatMessage
from llama_index.embeddings.openai_like import OpenAILikeEmbedding
from llama_index.llms.openai_like import OpenAILike

pytestmark = pytest.mark.e2e


def test_openai_like_chat_and_complete(api_base: str) -> None:
    llm = OpenAILike(
        model="smollm2",
        api_base=api_base,
        api_key="x",
        is_chat_model=True,
        max_tokens=12,
        temperature=0,
        max_retries=0,
    )
    chat = llm.chat([ChatMessage(role="user", content="Name a colour.")])
    assert chat.message.content
    streamed = "".join(
        r.delta or "" for r in llm.stream_chat([ChatMessage(role="user", content="Name a colour.")])
    )
    assert streamed == chat.message.content
    completer = OpenAILike(
        model="smollm2", api_base=api_base, api_key="x", max_tokens=8, temperature=0
    )
    assert completer.complete("Once upon a time").text


def test_openai_like_embedding(api_base: str) -> None:
    embed = OpenAILikeEmbedding(model_name="all-minilm", api_base=api_base, api_key="x")
    one = embed.get_text_embedding("hello world")
    many = embed.get_text_embedding_batch(["hello world", "goodbye"])
    assert len(one) == 384 and len(many) == 2
    assert max(abs(a - b) for a, b in zip(one, many[0], strict=True)) < 1e-5
