"""Tools and structured outputs on the real SmolLM2 GGUF through the openai SDK."""

from __future__ import annotations

import json

import jsonschema
import openai
import pytest

from helpers import assert_valid

pytestmark = pytest.mark.e2e

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Get the current time in a timezone",
        "parameters": {
            "type": "object",
            "properties": {"timezone": {"type": "string"}},
            "required": ["timezone"],
        },
    },
}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


def _check_calls(calls: list, tools: list[dict]) -> None:
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in tools}
    assert calls
    for call in calls:
        assert call.id.startswith("call_")
        assert call.type == "function"
        jsonschema.validate(json.loads(call.function.arguments), schemas[call.function.name])


@pytest.mark.parametrize(
    "choice", ["required", {"type": "function", "function": {"name": "get_weather"}}]
)
def test_forced_tool_call_validates(client: openai.OpenAI, choice: object) -> None:
    resp = client.chat.completions.create(
        model="smollm2",
        messages=ASK,
        tools=[WEATHER, TIME],
        tool_choice=choice,
        temperature=0,
        max_tokens=300,
    )  # type: ignore[arg-type]
    assert_valid("CreateChatCompletionResponse", resp.model_dump(exclude_unset=True))
    choice0 = resp.choices[0]
    assert choice0.finish_reason == "tool_calls"
    assert choice0.message.content is None
    _check_calls(choice0.message.tool_calls, [WEATHER, TIME])
    if isinstance(choice, dict):
        assert {c.function.name for c in choice0.message.tool_calls} == {"get_weather"}


def test_streamed_tool_call_assembles(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="smollm2",
        messages=ASK,
        tools=[WEATHER],
        stream=True,
        temperature=0,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    chunks = list(stream)
    for chunk in chunks:
        assert_valid("CreateChatCompletionStreamResponse", chunk.model_dump(exclude_unset=True))
    deltas = [d for c in chunks if c.choices for d in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].id and deltas[0].function.name == "get_weather"
    assert len({d.index for d in deltas}) == 1
    # The arguments stream as the model writes them: about one fragment a token.
    fragments = [d.function.arguments for d in deltas[1:] if d.function.arguments]
    args = "".join(d.function.arguments or "" for d in deltas)
    assert len(fragments) >= 8 and max(map(len, fragments)) <= 12, fragments
    jsonschema.validate(json.loads(args), WEATHER["function"]["parameters"])
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    with client.chat.completions.stream(
        model="smollm2",
        messages=ASK,
        tools=[WEATHER],
        temperature=0,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    ) as sdk:
        final = sdk.get_final_completion()
    _check_calls(final.choices[0].message.tool_calls, [WEATHER])


def test_tool_choice_none_never_calls(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="smollm2",
        messages=ASK,
        tools=[WEATHER],
        tool_choice="none",
        temperature=0,
        max_tokens=30,
    )
    assert resp.choices[0].message.tool_calls is None
    assert resp.choices[0].finish_reason in ("stop", "length")


def test_auto_answers_with_text_or_valid_calls(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="smollm2", messages=ASK, tools=[WEATHER], temperature=0, max_tokens=60
    )
    message = resp.choices[0].message
    if resp.choices[0].finish_reason == "tool_calls":
        _check_calls(message.tool_calls, [WEATHER])
    else:
        assert message.content and message.tool_calls is None


def test_tool_results_round_trip(client: openai.OpenAI) -> None:
    first = client.chat.completions.create(
        model="smollm2",
        messages=ASK,
        tools=[WEATHER],
        tool_choice="required",
        parallel_tool_calls=False,  # one call: the 135M model may repeat calls in an array
        temperature=0,
        max_tokens=200,
    )
    call = first.choices[0].message.tool_calls[0]
    messages = [
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {
            "role": "tool",
            "tool_call_id": call.id,
            "content": json.dumps({"temperature": 21, "unit": "celsius", "sky": "sunny"}),
        },
    ]
    resp = client.chat.completions.create(
        model="smollm2",
        messages=messages,
        tools=[WEATHER],
        tool_choice="none",
        temperature=0,
        max_tokens=40,
    )
    assert resp.choices[0].message.content
    without = client.chat.completions.create(
        model="smollm2", messages=ASK, tools=[WEATHER], tool_choice="none", max_tokens=1
    )
    # the call and its result are in the prompt: 20+ more tokens than the question alone
    assert resp.usage.prompt_tokens > without.usage.prompt_tokens + 20


PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "hobbies": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    },
    "required": ["name", "age", "hobbies"],
    "additionalProperties": False,
}


def test_json_schema_answer_validates(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="smollm2",
        temperature=0,
        messages=[{"role": "user", "content": "Describe Ann, who is 31 and likes chess."}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": PERSON, "strict": True},
        },
    )
    assert resp.choices[0].finish_reason == "stop"
    jsonschema.validate(json.loads(resp.choices[0].message.content), PERSON)


def test_json_schema_cut_short_says_length(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="smollm2",
        temperature=0,
        max_tokens=5,
        messages=[{"role": "user", "content": "Describe Ann, who is 31 and likes chess."}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": PERSON},
        },
    )
    assert resp.choices[0].finish_reason == "length"


def test_json_object(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="smollm2",
        temperature=0,
        max_tokens=200,
        messages=[{"role": "user", "content": "Give the capital of France as JSON."}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(resp.choices[0].message.content), dict)


@pytest.mark.parametrize(
    ("schema", "param"),
    [
        ({"type": "object", "not": {"required": ["a"]}}, "response_format.json_schema.schema.not"),
        (
            {"type": "object", "properties": {"a": {"type": "string", "if": {}}}},
            "response_format.json_schema.schema.properties.a.if",
        ),
        (
            {"type": "object", "patternProperties": {"^a": {}}},
            "response_format.json_schema.schema.patternProperties",
        ),
        # valid schemas whose grammars llama.cpp rejects (these used to crash the sampler)
        ({"type": "string", "maxLength": 5000}, "response_format"),
        ({"enum": []}, "response_format"),
        ({"type": "object", "properties": []}, "response_format.json_schema.schema"),
    ],
)
def test_unsupported_schema_features_are_named(
    client: openai.OpenAI, schema: dict, param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="smollm2",
            messages=ASK,
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
        )
    assert info.value.body["param"] == param  # type: ignore[index]


def test_unusable_tool_schemas_are_400s(client: openai.OpenAI) -> None:
    bad = {"type": "function", "function": {"name": "f", "parameters": {"anyOf": []}}}
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="smollm2", messages=ASK, tools=[bad], tool_choice="required"
        )
    assert info.value.body["param"] in ("tools", "tools[0].function.parameters")  # type: ignore[index]
    resp = client.chat.completions.create(model="smollm2", messages=ASK, max_tokens=2)
    assert resp.choices[0].message.content is not None


def test_parallel_tool_calls_false_gives_one_call(client: openai.OpenAI) -> None:
    for parallel in (True, False):
        resp = client.chat.completions.create(
            model="smollm2",
            messages=ASK,
            tools=[WEATHER, TIME],
            tool_choice="required",
            parallel_tool_calls=parallel,
            temperature=0,
            max_tokens=300,
        )
        calls = resp.choices[0].message.tool_calls
        _check_calls(calls, [WEATHER, TIME])
        if not parallel:
            assert len(calls) == 1


def test_a_tool_without_parameters_is_called_with_no_arguments(client: openai.OpenAI) -> None:
    clock = {"type": "function", "function": {"name": "now", "description": "The time."}}
    resp = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "What time is it?"}],
        tools=[clock],  # type: ignore[list-item]
        tool_choice="required",
        max_tokens=40,
        temperature=0,
    )
    calls = resp.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "now"
    assert json.loads(calls[0].function.arguments) == {}  # nothing invented


def test_tool_calls_without_their_results_are_a_400(client: openai.OpenAI) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "now", "arguments": "{}"}}
    messages = [
        {"role": "user", "content": "What time is it?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "user", "content": "Well?"},
    ]
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="smollm2", messages=messages, max_tokens=4)  # type: ignore[arg-type]
    assert info.value.body["param"] == "messages[1]"  # type: ignore[index]
    assert "call_1" in info.value.body["message"]  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(
            model="smollm2",
            input=[
                {"role": "user", "content": "What time is it?"},
                {"type": "function_call", "call_id": "call_1", "name": "now", "arguments": "{}"},
                {"role": "user", "content": "Well?"},
            ],
            max_output_tokens=16,
        )
    assert info.value.body["param"] == "input[1]"  # type: ignore[index]


# --- tools together with a response format (what agent frameworks send every turn) -----

CITY = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "summary": {"type": "string"}},
    "required": ["city", "summary"],
    "additionalProperties": False,
}
CITY_FORMAT = {"type": "json_schema", "json_schema": {"name": "city", "schema": CITY}}


def _call_or_answer(message: object, finish: str) -> str:
    """Which came, checked: a valid call to a known tool, or an answer in the schema."""
    calls = getattr(message, "tool_calls", None)
    if calls:
        assert finish == "tool_calls"
        _check_calls(calls, [WEATHER, TIME])
        return "call"
    assert finish == "stop"
    jsonschema.validate(json.loads(getattr(message, "content", "") or ""), CITY)
    return "answer"


@pytest.mark.parametrize(
    "question",
    ["What is the weather in Paris?", "Describe the city of Lyon in one sentence."],
)
def test_auto_tools_with_a_json_schema_give_a_call_or_a_valid_answer(
    client: openai.OpenAI, question: str
) -> None:
    resp = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": question}],
        tools=[WEATHER, TIME],  # type: ignore[list-item]
        tool_choice="auto",
        response_format=CITY_FORMAT,  # type: ignore[arg-type]
        max_tokens=120,
        temperature=0,
    )
    choice = resp.choices[0]
    _call_or_answer(choice.message, choice.finish_reason)
    assert_valid("CreateChatCompletionResponse", resp.model_dump(exclude_unset=True))


def test_forced_tools_with_a_format_call_now_and_none_answers_in_it(
    client: openai.OpenAI,
) -> None:
    forced = client.chat.completions.create(
        model="smollm2",
        messages=ASK,  # type: ignore[arg-type]
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice="required",
        parallel_tool_calls=False,
        response_format=CITY_FORMAT,  # type: ignore[arg-type]
        max_tokens=120,
        temperature=0,
    )
    assert forced.choices[0].finish_reason == "tool_calls"
    _check_calls(forced.choices[0].message.tool_calls or [], [WEATHER])
    call = (forced.choices[0].message.tool_calls or [])[0]
    answer = client.chat.completions.create(  # the turn after the tool result: the format
        model="smollm2",
        messages=[
            *ASK,
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21 degrees"},
        ],  # type: ignore[list-item]
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice="none",
        response_format=CITY_FORMAT,  # type: ignore[arg-type]
        max_tokens=120,
        temperature=0,
    )
    assert _call_or_answer(answer.choices[0].message, answer.choices[0].finish_reason) == "answer"


def test_the_responses_api_takes_tools_with_a_text_format(client: openai.OpenAI) -> None:
    resp = client.responses.create(
        model="smollm2",
        input="What is the weather in Paris?",
        tools=[{"type": "function", **WEATHER["function"]}],  # type: ignore[list-item]
        text={"format": {"type": "json_schema", "name": "city", "schema": CITY}},
        max_output_tokens=120,
        temperature=0,
    )
    assert resp.status == "completed"
    kinds = [item.type for item in resp.output]
    if "function_call" in kinds:
        call = next(i for i in resp.output if i.type == "function_call")
        jsonschema.validate(json.loads(call.arguments), WEATHER["function"]["parameters"])
    else:
        jsonschema.validate(json.loads(resp.output_text), CITY)
