"""Legacy completions through the real server and the real SmolLM2 GGUF."""

from __future__ import annotations

import openai
import pytest

from helpers import assert_valid

pytestmark = pytest.mark.e2e

PROMPT = "The capital of France is"


def _valid_completion(obj: dict) -> None:
    # The spec shares one shape for streamed and whole completions; OpenAI itself sends
    # ``finish_reason: null`` on intermediate chunks, which that shape does not allow.
    for choice in obj["choices"]:
        if choice["finish_reason"] is None:
            choice["finish_reason"] = "stop"
    assert_valid("CreateCompletionResponse", obj)


def test_completion(client: openai.OpenAI) -> None:
    resp = client.completions.create(model="smollm2", prompt=PROMPT, max_tokens=8, temperature=0)
    assert resp.object == "text_completion"
    assert resp.choices[0].text
    assert resp.usage.completion_tokens <= 8
    _valid_completion(resp.model_dump(exclude_unset=True))


def test_completion_batch_of_prompts(client: openai.OpenAI) -> None:
    resp = client.completions.create(
        model="smollm2", prompt=[PROMPT, "1, 2, 3,"], max_tokens=4, temperature=0
    )
    assert [c.index for c in resp.choices] == [0, 1]
    single = client.completions.create(
        model="smollm2", prompt="1, 2, 3,", max_tokens=4, temperature=0
    )
    assert resp.choices[1].text == single.choices[0].text


def test_completion_token_prompt(client: openai.OpenAI) -> None:
    resp = client.completions.create(model="smollm2", prompt=[504, 3575, 282], max_tokens=3)
    assert resp.usage.prompt_tokens == 3


def test_echo(client: openai.OpenAI) -> None:
    resp = client.completions.create(
        model="smollm2", prompt=PROMPT, max_tokens=4, echo=True, temperature=0
    )
    assert resp.choices[0].text.startswith(PROMPT)
    assert len(resp.choices[0].text) > len(PROMPT)


def test_completion_stop_and_stream(client: openai.OpenAI) -> None:
    whole = client.completions.create(
        model="smollm2", prompt="1, 2, 3, 4,", max_tokens=20, temperature=0, stop=["7"]
    )
    assert whole.choices[0].finish_reason == "stop"
    assert "7" not in whole.choices[0].text
    chunks = list(
        client.completions.create(
            model="smollm2",
            prompt="1, 2, 3, 4,",
            max_tokens=20,
            temperature=0,
            stop=["7"],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    for chunk in chunks:
        _valid_completion(chunk.model_dump(exclude_unset=True))
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == whole.choices[0].text
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_completion_length(client: openai.OpenAI) -> None:
    resp = client.completions.create(model="smollm2", prompt=PROMPT, max_tokens=2, temperature=0)
    assert resp.choices[0].finish_reason == "length"
    assert resp.usage.completion_tokens == 2
