"""The Anthropic Messages API through the official ``anthropic`` SDK against the real
server: SmolLM2 for plain, streamed, stop sequences, tools and counts; a reasoning
model (SmolLM2 configured as a thinker, as in the reasoning tests) for thinking blocks;
the tiny vision GGUF for images; Anthropic's error envelope, its key header and its
version header."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterator

import anthropic
import httpx
import pytest
from PIL import Image

from fixtures.tiny_vision import build_tiny_vision
from helpers import ServerProcess, smollm2_config, smollm2_gguf

pytestmark = pytest.mark.e2e

KEY = "anthropic-test-key"
ASK = [{"role": "user", "content": "Name three colours."}]
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("anthropic")
    llm, projector = build_tiny_vision(tmp, tokenizer_gguf=smollm2_gguf())
    config = smollm2_config(tmp, options="n_ctx = 2048\n")
    text = config.read_text().replace(
        "[server]\n", '[server]\napi_keys = [{ env = "MP_ANTHROPIC_KEY" }]\n', 1
    )
    config.write_text(
        text + f'[[models]]\nname = "thinker"\nbackend = "gguf"\nsource = "{smollm2_gguf()}"\n'
        '[models.reasoning]\nend = "</think>"\nopened_by_template = true\n'
        f'[[models]]\nname = "tiny-vision"\nbackend = "gguf"\nsource = "{llm}"\n'
        f'[models.options]\nn_ctx = 512\nn_threads = 1\nmmproj = "{projector.name}"\n'
    )
    with ServerProcess(config, env={"MP_ANTHROPIC_KEY": KEY}) as proc:
        yield proc


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url, api_key=KEY, max_retries=0)


def test_a_message(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="smollm2",
        max_tokens=12,
        messages=ASK,
        system="Be brief.",
        extra_body={"temperature": 0},
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_") and message.model == "smollm2"
    assert message.content[0].type == "text" and message.content[0].text
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert message.usage.input_tokens > 0 and 0 < message.usage.output_tokens <= 12
    long = client.messages.create(
        model="smollm2", max_tokens=3, messages=ASK, extra_body={"temperature": 0}
    )
    assert long.stop_reason == "max_tokens" and long.usage.output_tokens == 3


def test_streamed_it_says_the_same(client: anthropic.Anthropic) -> None:
    whole = client.messages.create(
        model="smollm2", max_tokens=16, messages=ASK, extra_body={"temperature": 0}
    )
    kinds: list[str] = []
    with client.messages.stream(
        model="smollm2", max_tokens=16, messages=ASK, extra_body={"temperature": 0}
    ) as stream:
        for event in stream:
            kinds.append(event.type)
        final = stream.get_final_message()
    assert final.content[0].text == whole.content[0].text  # type: ignore[union-attr]
    assert final.stop_reason == whole.stop_reason
    assert final.usage.output_tokens == whole.usage.output_tokens
    raw = [k for k in kinds if k not in ("text",)]  # (the SDK's own text events)
    assert raw[:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert raw[-3:] == ["content_block_stop", "message_delta", "message_stop"]


def test_the_raw_stream_has_anthropic_events_and_a_ping(server: ServerProcess) -> None:
    body = {"model": "smollm2", "max_tokens": 4, "messages": ASK, "stream": True}
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    resp = httpx.post(server.base_url + "/v1/messages", json=body, headers=headers, timeout=60)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    events = [line[7:] for line in resp.text.splitlines() if line.startswith("event: ")]
    assert events[:2] == ["message_start", "ping"]
    assert events[-2:] == ["message_delta", "message_stop"]


def test_a_stop_sequence_is_named(client: anthropic.Anthropic) -> None:
    whole = client.messages.create(
        model="smollm2", max_tokens=24, messages=ASK, extra_body={"temperature": 0}
    )
    text = whole.content[0].text  # type: ignore[union-attr]
    word = text.split()[2]
    stopped = client.messages.create(
        model="smollm2",
        max_tokens=24,
        messages=ASK,
        extra_body={"temperature": 0},
        stop_sequences=[word],
    )
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == word
    assert word not in stopped.content[0].text  # type: ignore[union-attr]
    assert text.startswith(stopped.content[0].text)  # type: ignore[union-attr]


def test_a_forced_tool_and_its_result(client: anthropic.Anthropic) -> None:
    ask = [{"role": "user", "content": "What is the weather in Paris?"}]
    message = client.messages.create(
        model="smollm2",
        max_tokens=60,
        messages=ask,
        tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather"},
    )
    assert message.stop_reason == "tool_use"
    call = next(b for b in message.content if b.type == "tool_use")
    assert call.name == "get_weather" and isinstance(call.input["city"], str)
    # streamed: the call's arguments as input_json_delta fragments
    with client.messages.stream(
        model="smollm2",
        max_tokens=60,
        messages=ask,
        tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather"},
        extra_body={"temperature": 0},
    ) as stream:
        final = stream.get_final_message()
    streamed = next(b for b in final.content if b.type == "tool_use")
    assert streamed.name == "get_weather" and "city" in streamed.input
    # the result goes back in the next user turn and the model answers
    answer = client.messages.create(
        model="smollm2",
        max_tokens=20,
        tools=[WEATHER],
        messages=[
            *ask,
            {"role": "assistant", "content": message.content},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call.id, "content": "Sunny, 24 C."}
                ],
            },
        ],
    )
    assert answer.content and answer.stop_reason in ("end_turn", "max_tokens", "tool_use")


def test_count_tokens_equals_the_input_tokens(client: anthropic.Anthropic) -> None:
    request = {"model": "smollm2", "messages": ASK, "system": "Be brief.", "tools": [WEATHER]}
    counted = client.messages.count_tokens(**request)  # type: ignore[arg-type]
    message = client.messages.create(max_tokens=1, **request)  # type: ignore[arg-type]
    assert counted.input_tokens == _total(message.usage) > 0


def test_thinking_comes_as_a_thinking_block(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="thinker",
        max_tokens=60,
        messages=ASK,
        thinking={"type": "enabled", "budget_tokens": 12},
        extra_body={"temperature": 0},
    )
    kinds = [b.type for b in message.content]
    assert kinds[0] == "thinking" and "text" in kinds
    thinking = message.content[0].thinking  # type: ignore[union-attr]
    assert thinking and "</think>" not in thinking
    with client.messages.stream(
        model="thinker",
        max_tokens=60,
        messages=ASK,
        thinking={"type": "enabled", "budget_tokens": 12},
        extra_body={"temperature": 0},
    ) as stream:
        deltas = [e.delta.type for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert "thinking_delta" in deltas and "text_delta" in deltas
    assert final.content[0].thinking == thinking  # type: ignore[union-attr]
    disabled = client.messages.create(
        model="thinker", max_tokens=20, messages=ASK, thinking={"type": "disabled"}
    )
    assert [b.type for b in disabled.content] == ["text"]
    # a model that does not reason refuses a budget by name
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            model="smollm2",
            max_tokens=60,
            messages=ASK,
            thinking={"type": "enabled", "budget_tokens": 12},
        )
    assert info.value.body["error"]["message"].startswith("thinking.budget_tokens: ")  # type: ignore[index]


def _total(usage: anthropic.types.Usage) -> int:
    """The prompt's tokens: Anthropic counts those read from the cache apart."""
    return usage.input_tokens + (usage.cache_read_input_tokens or 0)


def _png(color: tuple[int, int, int]) -> str:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


def test_images_reach_the_vision_model(client: anthropic.Anthropic) -> None:
    def ask(color: tuple[int, int, int]) -> anthropic.types.Message:
        return client.messages.create(
            model="tiny-vision",
            max_tokens=8,
            extra_body={"temperature": 0},
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/png",
                                "data": _png(color),
                            },
                        },
                        {"type": "text", "text": "What is this?"},
                    ],
                }
            ],
        )

    red, blue = ask((220, 30, 30)), ask((20, 40, 230))
    text_only = client.messages.create(
        model="tiny-vision",
        max_tokens=8,
        extra_body={"temperature": 0},
        messages=[{"role": "user", "content": "What is this?"}],
    )
    assert _total(red.usage) > _total(text_only.usage)  # the image's tokens
    assert red.content[0].text != blue.content[0].text  # type: ignore[union-attr]
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            model="smollm2",
            max_tokens=8,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Hi"},
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/png",
                                "data": _png((0, 0, 0)),
                            },
                        },
                    ],
                }
            ],
        )
    assert info.value.body["error"]["message"].startswith("messages.0.content.1")  # type: ignore[index]
    # a URL source goes through core's image fetching and its rules (no private hosts)
    with pytest.raises(anthropic.BadRequestError) as private:
        client.messages.create(
            model="tiny-vision",
            max_tokens=8,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "url", "url": "http://127.0.0.1:9/a.png"},
                        },
                        {"type": "text", "text": "What is this?"},
                    ],
                }
            ],
        )
    assert private.value.body["error"]["message"].startswith("messages.0.content.0")  # type: ignore[index]


def test_documents_are_read_as_text(client: anthropic.Anthropic) -> None:
    document = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "The code word is PELICAN."},
        "title": "Note",
    }
    plain = client.messages.create(model="smollm2", max_tokens=1, messages=ASK)
    with_doc = client.messages.create(
        model="smollm2",
        max_tokens=1,
        messages=[
            {"role": "user", "content": [document, {"type": "text", "text": "Name three colours."}]}
        ],
    )
    assert _total(with_doc.usage) > _total(plain.usage)
    pdf = {
        **document,
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
    }
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            model="smollm2", max_tokens=1, messages=[{"role": "user", "content": [pdf]}]
        )
    assert info.value.body["error"]["message"].startswith("messages.0.content.0.source: ")  # type: ignore[index]


def test_errors_come_in_anthropics_envelope(
    server: ServerProcess, client: anthropic.Anthropic
) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(model="nope", max_tokens=4, messages=ASK)
    assert missing.value.body["type"] == "error"  # type: ignore[index]
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError) as unknown:
        client.messages.create(
            model="smollm2", max_tokens=4, messages=ASK, extra_body={"colour": "red"}
        )
    assert unknown.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "colour" in unknown.value.body["error"]["message"]  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(
            model="smollm2", max_tokens=4, messages=ASK, extra_body={"top_k": 5, "temperature": 2.0}
        )
    with pytest.raises(anthropic.BadRequestError) as big:
        client.messages.create(
            model="smollm2", max_tokens=4, messages=[{"role": "user", "content": "x " * 5000}]
        )
    assert "context" in big.value.body["error"]["message"]  # type: ignore[index]
    wrong = anthropic.Anthropic(base_url=server.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as denied:
        wrong.messages.create(model="smollm2", max_tokens=4, messages=ASK)
    assert denied.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    # the OpenAI adapter keeps its own envelope, and takes the key from x-api-key too
    resp = httpx.post(
        server.base_url + "/v1/chat/completions",
        json={"model": "nope", "messages": ASK},
        headers={"x-api-key": KEY},
    )
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "model_not_found"
    assert os.environ.get("MP_ANTHROPIC_KEY") is None  # (the key went to the server only)


def test_omitted_thinking_and_output_config(client: anthropic.Anthropic) -> None:
    omitted = client.messages.create(
        model="thinker",
        max_tokens=40,
        messages=ASK,
        thinking={"type": "enabled", "budget_tokens": 8, "display": "omitted"},
    )
    assert omitted.content[0].type == "thinking" and omitted.content[0].thinking == ""  # type: ignore[union-attr]
    assert omitted.usage.output_tokens > 8  # (it thought, and answered)
    schema = {
        "type": "object",
        "properties": {"colour": {"type": "string", "enum": ["red", "green", "blue"]}},
        "required": ["colour"],
        "additionalProperties": False,
    }
    shaped = client.messages.create(
        model="smollm2",
        max_tokens=30,
        messages=[{"role": "user", "content": "Pick a colour."}],
        output_config={"format": {"type": "json_schema", "schema": schema}},
    )
    import json

    assert json.loads(shaped.content[0].text)["colour"] in ("red", "green", "blue")  # type: ignore[union-attr]
    # effort on a model that does not reason: refused by name
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            model="smollm2", max_tokens=8, messages=ASK, output_config={"effort": "high"}
        )
    assert info.value.body["error"]["message"].startswith("output_config.effort: ")  # type: ignore[index]
    # adaptive thinking: the reasoning model thinks as configured (here: until max_tokens)
    adaptive = client.messages.create(
        model="thinker", max_tokens=10, messages=ASK, thinking={"type": "adaptive"}
    )
    assert adaptive.content[0].type == "thinking" and adaptive.stop_reason == "max_tokens"
