"""Legacy text completions."""

import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("MODELPORT_BASE_URL", "http://127.0.0.1:8000/v1"),
    api_key=os.environ.get("MODELPORT_API_KEY", "modelport"),
)

completion = client.completions.create(
    model=os.environ.get("MODELPORT_CHAT_MODEL", "smollm2"),
    prompt="The three primary colours are",
    max_tokens=24,
    temperature=0,
)
print(completion.choices[0].text)
