"""Fill in the middle: a completion between a prompt and a suffix.

Needs a model with fill-in-the-middle tokens (a code model such as a Qwen2.5-Coder or
StarCoder GGUF); a model without them, like the default SmolLM2, answers with a 400 that
names `suffix`.
"""

import os

from openai import BadRequestError, OpenAI

client = OpenAI(
    base_url=os.environ.get("MODELPORT_BASE_URL", "http://127.0.0.1:8000/v1"),
    api_key=os.environ.get("MODELPORT_API_KEY", "modelport"),
)

try:
    completion = client.completions.create(
        model=os.environ.get("MODELPORT_CODE_MODEL", "smollm2"),
        prompt="def compute_gcd(a, b):",
        suffix="    return result",
        max_tokens=64,
        temperature=0,
    )
    print(completion.choices[0].text)
except BadRequestError as exc:
    print(f"refused: {exc.body['message']} (param {exc.body['param']!r})")
