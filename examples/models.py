"""List the served models, then retrieve one."""

import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("MODELPORT_BASE_URL", "http://127.0.0.1:8000/v1"),
    api_key=os.environ.get("MODELPORT_API_KEY", "modelport"),
)

for model in client.models.list():
    print(f"{model.id} (owned by {model.owned_by})")

model = client.models.retrieve(os.environ.get("MODELPORT_CHAT_MODEL", "smollm2"))
print(f"retrieved {model.id}, created {model.created}")
