"""Chat with a system prompt that sets the assistant's behaviour."""

import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("MODELPORT_BASE_URL", "http://127.0.0.1:8000/v1"),
    api_key=os.environ.get("MODELPORT_API_KEY", "modelport"),
)

response = client.chat.completions.create(
    model=os.environ.get("MODELPORT_CHAT_MODEL", "smollm2"),
    messages=[
        {"role": "system", "content": "You are a helpful assistant. Answer briefly."},
        {"role": "user", "content": "What is the capital of France?"},
    ],
    temperature=0,
    max_tokens=32,
)
print(response.choices[0].message.content)
