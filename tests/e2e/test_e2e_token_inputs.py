"""Token-array inputs are model-specific: every runtime refuses ids outside its model's
vocabulary (one check in core, fed by the vocabulary size each loaded model declares),
and ids that decode to nothing, with a 400 naming the input. Real server, real models,
the official SDK."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from helpers import tiktoken_offline

pytestmark = pytest.mark.e2e

EMBEDDERS = ["all-minilm", "all-minilm-onnx"]
GENERATORS = ["smollm2", "smollm2-onnx"]


def _refused(call: Any, **body: Any) -> dict[str, Any]:
    with pytest.raises(openai.BadRequestError) as info:
        call(**body)
    error = info.value.body
    assert isinstance(error, dict) and error["type"] == "invalid_request_error"
    assert isinstance(error["code"], str)
    return error


@pytest.mark.parametrize("model", EMBEDDERS)
def test_embedding_ids_outside_the_vocabulary_are_a_400(client: openai.OpenAI, model: str) -> None:
    for tokens, param in (
        ([[999999]], "input[0]"),
        ([[7592, 2088], [100000, 50000]], "input[1]"),  # BERT's vocabulary has 30,522 ids
        ([101, 102], "input[0]"),  # [CLS] [SEP]: nothing to embed
    ):
        error = _refused(client.embeddings.create, model=model, input=tokens)
        assert error["param"] == param, (model, tokens)
    # the model's own ids still work
    assert client.embeddings.create(model=model, input=[[7592, 2088]]).data


@pytest.mark.parametrize("model", EMBEDDERS)
def test_another_tokenizers_ids_are_a_400_even_when_in_range(
    client: openai.OpenAI, model: str
) -> None:
    tiktoken_offline()
    import tiktoken

    ids = tiktoken.get_encoding("cl100k_base").encode("The cat sits on the mat.")
    assert max(ids) < 30522  # all inside BERT's vocabulary: they decode into nonsense
    error = _refused(client.embeddings.create, model=model, input=[ids])
    assert error["param"] == "input[0]" and "another tokenizer" in error["message"]


@pytest.mark.parametrize("model", GENERATORS)
def test_completion_ids_outside_the_vocabulary_are_a_400(client: openai.OpenAI, model: str) -> None:
    error = _refused(client.completions.create, model=model, prompt=[999999, 5], max_tokens=2)
    assert error["param"] == "prompt" and "999999" in error["message"]
    batch = _refused(
        client.completions.create, model=model, prompt=[[28, 29], [5, 49152]], max_tokens=2
    )
    assert batch["param"] == "prompt[1]"  # SmolLM2's ids stop at 49151
    assert client.completions.create(model=model, prompt=[28, 29], max_tokens=2).choices
