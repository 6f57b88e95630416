"""Streaming chat: print tokens as they arrive, then the usage."""

import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("MODELPORT_BASE_URL", "http://127.0.0.1:8000/v1"),
    api_key=os.environ.get("MODELPORT_API_KEY", "modelport"),
)

stream = client.chat.completions.create(
    model=os.environ.get("MODELPORT_CHAT_MODEL", "smollm2"),
    messages=[{"role": "user", "content": "Write a haiku about the sea."}],
    max_tokens=48,
    stream=True,
    stream_options={"include_usage": True},
)
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="", flush=True)
    if chunk.usage:
        print(f"\n[{chunk.usage.completion_tokens} tokens]")
