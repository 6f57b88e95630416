"""Basic chat: one question, one answer."""

import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("MODELPORT_BASE_URL", "http://127.0.0.1:8000/v1"),
    api_key=os.environ.get("MODELPORT_API_KEY", "modelport"),  # required by the SDK, unused
)

response = client.chat.completions.create(
    model=os.environ.get("MODELPORT_CHAT_MODEL", "smollm2"),
    messages=[{"role": "user", "content": "Why is the sky blue?"}],
    max_tokens=64,
)
print(response.choices[0].message.content)
