"""The Responses API: one call, then a follow-up that continues from the stored response.

The server keeps each response (SQLite under its data directory), so the follow-up sends
only its new input and `previous_response_id`; the earlier turns come from the store.
"""

import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("MODELPORT_BASE_URL", "http://127.0.0.1:8000/v1"),
    api_key=os.environ.get("MODELPORT_API_KEY", "modelport"),
)
model = os.environ.get("MODELPORT_CHAT_MODEL", "smollm2")

first = client.responses.create(
    model=model, input="Tell me a three-sentence story.", max_output_tokens=120
)
print(f"[{first.id}] {first.output_text}")
follow = client.responses.create(
    model=model,
    input="Give it a title.",
    previous_response_id=first.id,
    max_output_tokens=30,
)
print(f"[{follow.id}] {follow.output_text}")
items = client.responses.input_items.list(follow.id)
print(f"follow-up input items: {len(items.data)}; continues {follow.previous_response_id}")
