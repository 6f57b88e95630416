"""JSON mode: the answer is always one valid JSON object."""

import json
import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("MODELPORT_BASE_URL", "http://127.0.0.1:8000/v1"),
    api_key=os.environ.get("MODELPORT_API_KEY", "modelport"),
)

response = client.chat.completions.create(
    model=os.environ.get("MODELPORT_CHAT_MODEL", "smollm2"),
    messages=[
        {
            "role": "user",
            "content": 'What is the capital of France? Answer in JSON with the key "capital".',
        }
    ],
    response_format={"type": "json_object"},
    temperature=0,
    max_tokens=200,
)
print(json.dumps(json.loads(response.choices[0].message.content), indent=2))
