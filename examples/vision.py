"""Vision: ask about an image given by URL or data URI.

Not served yet: images in chat messages are tracked by issue #3 (Vision). Until a vision
model is configured, the server answers with a 400 naming the image part.
"""

import os

from openai import BadRequestError, OpenAI

client = OpenAI(
    base_url=os.environ.get("MODELPORT_BASE_URL", "http://127.0.0.1:8000/v1"),
    api_key=os.environ.get("MODELPORT_API_KEY", "modelport"),
)

PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4"
    "nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg=="
)
try:
    response = client.chat.completions.create(
        model=os.environ.get("MODELPORT_VISION_MODEL", "smollm2"),
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {"type": "image_url", "image_url": {"url": PIXEL}},
                ],
            }
        ],
        max_tokens=64,
    )
    print(response.choices[0].message.content)
except BadRequestError as exc:
    print(f"refused: {exc.body['message']} (param {exc.body['param']!r})")
