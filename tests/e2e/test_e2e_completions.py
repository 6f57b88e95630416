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


def _aligned(text: str, logprobs: object) -> None:
    """Every logprob token sits at its text_offset in the text."""
    tokens, offsets = logprobs.tokens, logprobs.text_offset  # type: ignore[attr-defined]
    assert len(tokens) == len(offsets) == len(logprobs.token_logprobs)  # type: ignore[attr-defined]
    for token, offset in zip(tokens, offsets, strict=True):
        assert text[offset : offset + len(token)] == token


def test_echo_with_logprobs_scores_the_prompt(client: openai.OpenAI) -> None:
    """max_tokens 0 with echo and logprobs scores a text: each prompt token's
    log-probability given the ones before it (the first token has no context: SmolLM2
    adds no BOS, so it is left out, as llama-cpp-python does), from the real logits."""
    scored = client.completions.create(
        model="smollm2", prompt=PROMPT + " Paris", max_tokens=0, echo=True, logprobs=2
    )
    choice = scored.choices[0]
    assert choice.text == PROMPT + " Paris" and choice.finish_reason == "length"
    lp = choice.logprobs
    assert lp is not None and len(lp.tokens) == scored.usage.prompt_tokens - 1
    assert scored.usage.completion_tokens == 0
    _aligned(choice.text, lp)
    assert lp.tokens[-1] == " Paris"
    assert all(v <= 0 for v in lp.token_logprobs)
    assert all(0 < len(top) <= 2 for top in lp.top_logprobs)
    _valid_completion(scored.model_dump(exclude_unset=True))
    # The same number as when the model generates " Paris" after the prompt.
    generated = client.completions.create(
        model="smollm2", prompt=PROMPT, max_tokens=1, temperature=0, logprobs=2
    )
    assert generated.choices[0].text == " Paris"
    assert generated.choices[0].logprobs.token_logprobs[0] == pytest.approx(
        lp.token_logprobs[-1], abs=1e-3
    )
    assert generated.choices[0].logprobs.top_logprobs[0] == pytest.approx(
        lp.top_logprobs[-1], abs=1e-3
    )


def test_echo_with_logprobs_and_generation(client: openai.OpenAI) -> None:
    whole = client.completions.create(
        model="smollm2", prompt=PROMPT, max_tokens=3, echo=True, logprobs=1, temperature=0
    )
    choice = whole.choices[0]
    assert choice.text.startswith(PROMPT) and len(choice.text) > len(PROMPT)
    assert len(choice.logprobs.tokens) == whole.usage.prompt_tokens - 1 + 3
    _aligned(choice.text, choice.logprobs)
    chunks = list(
        client.completions.create(
            model="smollm2",
            prompt=PROMPT,
            max_tokens=3,
            echo=True,
            logprobs=1,
            temperature=0,
            stream=True,
        )
    )
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == choice.text
    offsets = [
        o
        for c in chunks
        if c.choices and c.choices[0].logprobs
        for o in c.choices[0].logprobs.text_offset
    ]
    assert offsets == choice.logprobs.text_offset


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
