"""/v1/responses through the real server and the real SmolLM2, with the official SDK."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest

from helpers import ServerProcess, assert_valid, smollm2_gguf

pytestmark = pytest.mark.e2e

MODEL = "smollm2"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def _valid(response: Any) -> dict[str, Any]:
    data: dict[str, Any] = response.model_dump(exclude_unset=True, by_alias=True)
    assert_valid("Response", data)
    return data


def test_string_input_with_instructions(client: openai.OpenAI) -> None:
    resp = client.responses.create(
        model=MODEL,
        input="Say hello.",
        instructions="You are a terse assistant.",
        max_output_tokens=24,
        temperature=0,
        metadata={"case": "string"},
    )
    data = _valid(resp)
    assert resp.id.startswith("resp_") and resp.object == "response"
    assert resp.status in ("completed", "incomplete")
    assert resp.output[0].type == "message" and resp.output_text
    assert resp.instructions == "You are a terse assistant."
    assert data["metadata"] == {"case": "string"}
    assert resp.usage is not None and resp.usage.input_tokens > 5


def test_max_output_tokens_is_incomplete(client: openai.OpenAI) -> None:
    resp = client.responses.create(
        model=MODEL, input="Write a long essay about the sea.", max_output_tokens=16
    )
    _valid(resp)
    assert resp.status == "incomplete"
    assert resp.incomplete_details is not None
    assert resp.incomplete_details.reason == "max_output_tokens"
    assert resp.usage is not None and resp.usage.output_tokens == 16


def test_item_list_input_and_input_items(client: openai.OpenAI) -> None:
    resp = client.responses.create(
        model=MODEL,
        input=[
            {"role": "system", "content": "Answer in one word."},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
        ],
        max_output_tokens=16,
    )
    _valid(resp)
    items = client.responses.input_items.list(resp.id, order="asc")
    page = items.model_dump(exclude_unset=True, by_alias=True)
    assert_valid("ResponseItemList", page)
    assert [i.role for i in items.data] == ["system", "user"]  # type: ignore[union-attr]
    assert page["first_id"] == items.data[0].id


def test_json_schema_text_format(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    resp = client.responses.create(
        model=MODEL,
        input="Invent a person.",
        text={"format": {"type": "json_schema", "name": "person", "schema": schema}},
        max_output_tokens=64,
        temperature=0,
    )
    _valid(resp)
    assert resp.status == "completed"
    person = json.loads(resp.output_text)
    assert isinstance(person["name"], str) and isinstance(person["age"], int)


def test_forced_function_call_then_its_output(client: openai.OpenAI) -> None:
    call_resp = client.responses.create(
        model=MODEL,
        input="What is the weather in Paris?",
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice={"type": "function", "name": "get_weather"},
        max_output_tokens=64,
        temperature=0,
    )
    _valid(call_resp)
    call = call_resp.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    assert "city" in json.loads(call.arguments)
    follow = client.responses.create(
        model=MODEL,
        previous_response_id=call_resp.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "22C, sunny"}],
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice="none",
        max_output_tokens=32,
        temperature=0,
    )
    _valid(follow)
    assert follow.previous_response_id == call_resp.id
    assert follow.output[0].type == "message" and follow.output_text


def test_stream_events_in_order(client: openai.OpenAI) -> None:
    types: list[str] = []
    sequence: list[int] = []
    last: Any = None
    with client.responses.stream(
        model=MODEL, input="Write a long story about a cat.", max_output_tokens=16
    ) as s:
        for event in s:
            data = event.model_dump(exclude_unset=True, by_alias=True)
            assert_valid("ResponseStreamEvent", data)
            types.append(event.type)
            sequence.append(event.sequence_number)
            last = event
    # The SDK's get_final_response() only knows response.completed; this one is incomplete.
    assert last.type == "response.incomplete"
    final = last.response
    assert sequence == list(range(len(sequence)))
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert "response.output_text.delta" in types
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.incomplete",
    ]
    assert final.status == "incomplete"
    stored = client.responses.retrieve(final.id)
    _valid(stored)
    assert stored.output_text == final.output_text


def test_stream_function_call_events(client: openai.OpenAI) -> None:
    types: list[str] = []
    stream = client.responses.create(
        model=MODEL,
        input="Weather in Rome?",
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice="required",
        parallel_tool_calls=False,
        max_output_tokens=64,
        temperature=0,
        stream=True,
    )
    for event in stream:
        assert_valid("ResponseStreamEvent", event.model_dump(exclude_unset=True, by_alias=True))
        types.append(event.type)
    assert types[2] == "response.output_item.added"
    assert "response.function_call_arguments.delta" in types
    assert types[-3:] == [
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]


def test_retrieve_delete_and_unknown_ids(client: openai.OpenAI) -> None:
    resp = client.responses.create(model=MODEL, input="Hi", max_output_tokens=16)
    assert client.responses.retrieve(resp.id).id == resp.id
    client.responses.delete(resp.id)
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.retrieve(resp.id)
    assert info.value.body["code"] == "not_found"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        client.responses.create(
            model=MODEL, input="again", previous_response_id="resp_nope", max_output_tokens=16
        )
    with pytest.raises(openai.NotFoundError):
        client.responses.input_items.list("resp_nope")


def test_store_false_is_not_retrievable(client: openai.OpenAI) -> None:
    resp = client.responses.create(model=MODEL, input="Hi", store=False, max_output_tokens=16)
    assert resp.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(resp.id)


def test_bad_input_is_a_400(client: openai.OpenAI) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
        ({"input": [{"role": "user", "content": 3}]}, "input[0].content"),
        ({"input": "hi", "tools": [{"type": "web_search"}]}, "tools[0].type"),
        (
            {"input": "hi", "reasoning": {"effort": "high"}},
            "reasoning.effort",
        ),  # it does not reason
        ({"input": "hi", "max_output_tokens": 4}, "max_output_tokens"),
    ]
    for extra, param in cases:
        with pytest.raises(openai.BadRequestError) as info:
            client.responses.create(model=MODEL, **extra)
        assert info.value.body["param"] == param, extra  # type: ignore[index]
    image = {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "auto"}
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=MODEL, input=[{"role": "user", "content": [image]}])
    assert info.value.body["param"] == "input[0].content[0]"  # type: ignore[index]
    assert "vision" in info.value.body["message"]  # type: ignore[index]


@pytest.fixture(scope="module")
def own_server_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gguf = smollm2_gguf()
    root = tmp_path_factory.mktemp("responses")
    path = root / "plugins.toml"
    path.write_text(
        f'[server]\ndata_dir = "{root / "data"}"\nresponses_max_count = 50\n'
        f'[[models]]\nname = "smollm2"\nbackend = "gguf"\nsource = "{gguf}"\nload = "eager"\n'
        "[models.options]\nn_ctx = 2048\nn_threads = 2\n"
    )
    return path


def _client(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0)


def test_a_chain_survives_a_restart(own_server_config: Path) -> None:
    first_server = ServerProcess(own_server_config)
    try:
        first = _client(first_server).responses.create(
            model=MODEL, input="My name is Ada.", max_output_tokens=16, temperature=0
        )
    finally:
        first_server.stop()
    assert (own_server_config.parent / "data" / "responses.sqlite3").exists()
    second_server = ServerProcess(own_server_config)
    try:
        client = _client(second_server)
        follow = client.responses.create(
            model=MODEL,
            input="What is my name?",
            previous_response_id=first.id,
            max_output_tokens=16,
            temperature=0,
        )
        _valid(follow)
        assert follow.previous_response_id == first.id
        assert client.responses.retrieve(first.id).output_text == first.output_text
    finally:
        second_server.stop()
