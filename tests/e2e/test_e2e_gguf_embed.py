"""The gguf backend's embeddings (llama.cpp pooled embeddings) through the real server."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import openai
import pytest

from helpers import ServerProcess, assert_valid, smollm2_config

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gguf_embed_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    path = smollm2_config(
        tmp_path_factory.mktemp("gguf-embed"),
        options="embedding = true\nn_ctx = 512\nn_threads = 2\n",
        name="smollm2-embed",
    )
    with ServerProcess(path) as server:
        yield openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0)


def test_gguf_embeddings(gguf_embed_client: openai.OpenAI) -> None:
    resp = gguf_embed_client.embeddings.create(
        model="smollm2-embed",
        input=[
            "The cat sat on the mat.",
            "A cat is sitting on a mat.",
            "Quarterly revenue grew by ten percent.",
        ],
        encoding_format="float",
    )
    assert_valid("CreateEmbeddingResponse", resp.model_dump(exclude_unset=True))
    vecs = np.array([d.embedding for d in resp.data])
    assert vecs.shape == (3, 576)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]
    assert resp.usage.prompt_tokens > 10
    with pytest.raises(openai.BadRequestError) as info:
        gguf_embed_client.embeddings.create(model="smollm2-embed", input=[[999999]])
    assert info.value.body["param"] == "input[0]"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError):
        gguf_embed_client.chat.completions.create(
            model="smollm2-embed", messages=[{"role": "user", "content": "hi"}]
        )
