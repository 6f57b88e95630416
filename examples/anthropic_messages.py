"""The Anthropic Messages API with the official anthropic SDK: a message, a streamed
one, and a forced tool call (modelport serves POST /v1/messages and
/v1/messages/count_tokens beside the OpenAI API, on the same models)."""

import os

import anthropic

base_url = os.environ.get("MODELPORT_BASE_URL", "http://127.0.0.1:8000/v1")
client = anthropic.Anthropic(
    base_url=base_url.removesuffix("/v1"),  # (the SDK adds /v1 itself)
    api_key=os.environ.get("MODELPORT_API_KEY", "modelport"),
)
model = os.environ.get("MODELPORT_MODEL", "smollm2")
ask = [{"role": "user", "content": "Name three colours."}]

message = client.messages.create(model=model, max_tokens=40, system="Be brief.", messages=ask)
print(message.content[0].text)
print(
    f"[{message.stop_reason}; {message.usage.input_tokens} in, {message.usage.output_tokens} out]"
)

with client.messages.stream(model=model, max_tokens=40, messages=ask) as stream:
    for text in stream.text_stream:
        print(text, end="", flush=True)
print()

weather = {
    "name": "get_weather",
    "description": "The current weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
called = client.messages.create(
    model=model,
    max_tokens=60,
    messages=[{"role": "user", "content": "What is the weather in Paris?"}],
    tools=[weather],
    tool_choice={"type": "tool", "name": "get_weather"},
)
call = next(block for block in called.content if block.type == "tool_use")
print(f"the model called {call.name}({call.input})")
print("prompt tokens:", client.messages.count_tokens(model=model, messages=ask).input_tokens)
