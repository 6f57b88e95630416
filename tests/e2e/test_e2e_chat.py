"""Chat completions through the real server, the real SmolLM2 GGUF and the openai SDK."""

from __future__ import annotations

import openai
import pytest

from helpers import assert_valid

pytestmark = pytest.mark.e2e

STORY = [{"role": "user", "content": "Write a long story about a dragon."}]
FRANCE = [
    {"role": "system", "content": "You are a helpful assistant. Answer briefly."},
    {"role": "user", "content": "What is the capital of France?"},
]


def test_capital_of_france(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="smollm2", messages=FRANCE, temperature=0, max_tokens=40
    )
    assert "Paris" in resp.choices[0].message.content
    assert resp.choices[0].finish_reason in ("stop", "length")
    assert resp.model == "smollm2"
    assert resp.id.startswith("chatcmpl-")
    assert resp.usage.prompt_tokens > 10
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    assert resp.system_fingerprint.startswith("fp_")
    assert_valid("CreateChatCompletionResponse", resp.model_dump(exclude_unset=True))


def test_alias_and_roles(client: openai.OpenAI) -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in one word."}]},
        {"role": "user", "content": [{"type": "text", "text": "Capital of France?"}]},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And of Italy?"},
    ]
    resp = client.chat.completions.create(
        model="smollm2:135m", messages=messages, temperature=0, max_completion_tokens=10
    )
    assert resp.model == "smollm2:135m"
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].message.content


def test_streaming_matches_non_streaming(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(
        model="smollm2", messages=FRANCE, temperature=0, max_tokens=24
    )
    chunks = list(
        client.chat.completions.create(
            model="smollm2", messages=FRANCE, temperature=0, max_tokens=24, stream=True
        )
    )
    for chunk in chunks:
        assert_valid("CreateChatCompletionStreamResponse", chunk.model_dump(exclude_unset=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason
    assert len(chunks) > 5, "streamed token by token"


def test_stream_include_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="smollm2",
            messages=STORY,
            max_tokens=8,
            stream=True,
            temperature=0,
            stream_options={"include_usage": True},
        )
    )
    last = chunks[-1]
    assert last.choices == []
    assert last.usage.completion_tokens == 8
    assert last.usage.prompt_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason == "length"


def test_max_tokens_gives_length(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="smollm2", messages=STORY, max_tokens=3, temperature=0
    )
    assert resp.choices[0].finish_reason == "length"
    assert resp.usage.completion_tokens == 3


def test_stop_sequence(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Count from 1 to 10, separated by commas."}]
    full = (
        client.chat.completions.create(
            model="smollm2", messages=messages, temperature=0, max_tokens=40
        )
        .choices[0]
        .message.content
    )
    assert "4" in full
    stop = "4"
    resp = client.chat.completions.create(
        model="smollm2", messages=messages, temperature=0, max_tokens=40, stop=[stop, "never-there"]
    )
    text = resp.choices[0].message.content
    assert resp.choices[0].finish_reason == "stop"
    assert stop not in text
    assert full.startswith(text)
    streamed = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(
            model="smollm2", messages=messages, temperature=0, max_tokens=40, stop=stop, stream=True
        )
        if c.choices
    )
    assert streamed == text


def test_seed_reproducible_at_temperature(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Write a short poem about the sea."}]

    def run(seed: int) -> str:
        return (
            client.chat.completions.create(
                model="smollm2",
                messages=messages,
                temperature=1.0,
                seed=seed,
                max_tokens=30,
            )
            .choices[0]
            .message.content
        )

    first, second, other = run(1234), run(1234), run(99)
    assert first == second
    assert first != other


def test_penalties_accepted(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="smollm2", messages=FRANCE, max_tokens=5, frequency_penalty=0.5, presence_penalty=0.5
    )
    assert resp.choices[0].message.content is not None


def test_multi_turn_prompt_reuse_stays_correct(client: openai.OpenAI) -> None:
    first = (
        client.chat.completions.create(
            model="smollm2", messages=FRANCE, temperature=0, max_tokens=20
        )
        .choices[0]
        .message.content
    )
    again = (
        client.chat.completions.create(
            model="smollm2", messages=FRANCE, temperature=0, max_tokens=20
        )
        .choices[0]
        .message.content
    )
    assert first == again


def test_client_disconnect_frees_the_slot(base_url: str, client: openai.OpenAI) -> None:
    import time

    import httpx

    body = {
        "model": "smollm2",
        "messages": STORY,
        "max_tokens": 4000,
        "stream": True,
        "temperature": 0,
        "logit_bias": {"0": -100, "2": -100},  # no end of text: only the disconnect stops it
    }
    with httpx.stream("POST", base_url + "/v1/chat/completions", json=body) as resp:
        lines = resp.iter_lines()
        for _ in range(3):
            next(lines)
        active = httpx.get(base_url + "/health").json()["models"]["smollm2"]["active"]
        assert active == 1
    deadline = time.monotonic() + 30  # generous for a loaded machine; the run is minutes
    while time.monotonic() < deadline:
        if httpx.get(base_url + "/health").json()["models"]["smollm2"]["active"] == 0:
            break
        time.sleep(0.05)
    assert httpx.get(base_url + "/health").json()["models"]["smollm2"]["active"] == 0
    resp = client.chat.completions.create(model="smollm2", messages=FRANCE, max_tokens=2)
    assert resp.usage.completion_tokens <= 2


def test_non_streaming_client_disconnect_frees_the_slot(base_url: str) -> None:
    import time

    import httpx

    body = {
        "model": "smollm2",
        "messages": STORY,
        "max_tokens": 4000,
        "temperature": 0,
        "logit_bias": {"0": -100, "2": -100},
    }  # no end of text: only a disconnect stops it
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(base_url + "/v1/chat/completions", json=body, timeout=1.5)
    deadline = time.monotonic() + 30  # generous for a loaded machine; the run is minutes
    while time.monotonic() < deadline:
        if httpx.get(base_url + "/health").json()["models"]["smollm2"]["active"] == 0:
            break
        time.sleep(0.05)
    assert httpx.get(base_url + "/health").json()["models"]["smollm2"]["active"] == 0
