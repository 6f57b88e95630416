"""Vision: ask about an image given by URL or data URI.

Needs a vision model: a GGUF with its projector (`mmproj` in the model's options; see
docs/vision.md), named by MODELPORT_VISION_MODEL. A model without one (the default
smollm2) answers with a clear 400 naming the image part.
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
