"""Tool calling: the model asks for a function, we run it, the model answers with it."""

import json
import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("MODELPORT_BASE_URL", "http://127.0.0.1:8000/v1"),
    api_key=os.environ.get("MODELPORT_API_KEY", "modelport"),
)
model = os.environ.get("MODELPORT_CHAT_MODEL", "smollm2")

tools = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given city",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "The city, e.g. Paris"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city", "unit"],
            },
        },
    }
]


def get_current_weather(city: str, unit: str) -> dict:
    return {"city": city, "temperature": 22 if unit == "celsius" else 72, "unit": unit}


messages = [{"role": "user", "content": "What's the weather like in Paris today?"}]
# "required" makes the model call a tool; "auto" lets it choose.
response = client.chat.completions.create(
    model=model, messages=messages, tools=tools, tool_choice="required", temperature=0
)
call = response.choices[0].message.tool_calls[0]
arguments = json.loads(call.function.arguments)
print(f"the model called {call.function.name}({arguments})")

messages.append(response.choices[0].message.model_dump(exclude_none=True))
result = get_current_weather(**arguments)
messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
final = client.chat.completions.create(
    model=model, messages=messages, tools=tools, tool_choice="none", max_tokens=64
)
print(final.choices[0].message.content)
