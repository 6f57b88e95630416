"""Embeddings: one text, then a batch, and their cosine similarities."""

import math
import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("MODELPORT_BASE_URL", "http://127.0.0.1:8000/v1"),
    api_key=os.environ.get("MODELPORT_API_KEY", "modelport"),
)
model = os.environ.get("MODELPORT_EMBED_MODEL", "all-minilm")

single = client.embeddings.create(
    model=model, input="The sky is blue because of Rayleigh scattering"
)
print(f"single: {len(single.data[0].embedding)} dimensions")

texts = ["A man is playing a guitar.", "Someone strums a guitar.", "Stocks fell sharply today."]
batch = client.embeddings.create(model=model, input=texts)
vectors = [item.embedding for item in batch.data]


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


for i in range(1, len(texts)):
    print(f"cosine({texts[0]!r}, {texts[i]!r}) = {cosine(vectors[0], vectors[i]):.3f}")
