"""The Responses API: one call, then a follow-up that continues from the stored response.

Not served yet: /v1/responses is tracked by issue #6; until then the server answers 404.
"""

import os

from openai import NotFoundError, OpenAI

client = OpenAI(
    base_url=os.environ.get("MODELPORT_BASE_URL", "http://127.0.0.1:8000/v1"),
    api_key=os.environ.get("MODELPORT_API_KEY", "modelport"),
)
model = os.environ.get("MODELPORT_CHAT_MODEL", "smollm2")

try:
    first = client.responses.create(model=model, input="Tell me a three-sentence story.")
    print(first.output_text)
    follow = client.responses.create(
        model=model, input="Give it a title.", previous_response_id=first.id
    )
    print(follow.output_text)
except NotFoundError as exc:
    print(f"not served yet: {exc.body['message'] if isinstance(exc.body, dict) else exc}")
