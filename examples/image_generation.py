"""Image generation: one PNG from a prompt, reproducible with a seed (see docs/images.md)."""

import base64
import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("MODELPORT_BASE_URL", "http://127.0.0.1:8000/v1"),
    api_key=os.environ.get("MODELPORT_API_KEY", "modelport"),
)

response = client.images.generate(
    model=os.environ.get("MODELPORT_IMAGE_MODEL", "sd-turbo"),
    prompt="A lighthouse on a cliff at sunset, oil painting",
    response_format="b64_json",
    extra_body={"seed": 1234},  # modelport extension: same seed, same image
)
path = os.environ.get("MODELPORT_IMAGE_OUT", "image.png")
with open(path, "wb") as out:
    out.write(base64.b64decode(response.data[0].b64_json or ""))
print(f"saved {path}")
