"""Tokenize and detokenize with a model's own tokenizer (POST /v1/tokenize and
/v1/detokenize, also served at /tokenize and /detokenize, in llama-server's shape):
a text, its pieces, the count of a chat prompt, and the text back."""

import os

import httpx

base_url = os.environ.get("MODELPORT_BASE_URL", "http://127.0.0.1:8000/v1")
headers = {"Authorization": f"Bearer {os.environ.get('MODELPORT_API_KEY', 'modelport')}"}
model = os.environ.get("MODELPORT_MODEL", "smollm2")


def post(path: str, body: dict[str, object]) -> dict[str, object]:
    answer = httpx.post(f"{base_url}/{path}", headers=headers, json=body, timeout=60)
    answer.raise_for_status()
    return answer.json()


text = "Tokenizers split words into pieces."
pieces = post("tokenize", {"model": model, "content": text, "with_pieces": True})["tokens"]
print("pieces:", [p["piece"] for p in pieces])

messages = [{"role": "user", "content": text}]
chat = post("tokenize", {"model": model, "messages": messages})
print(f"as a chat prompt: {chat['count']} tokens (context: {chat['max_model_len']})")

back = post("detokenize", {"model": model, "tokens": [p["id"] for p in pieces]})
print("back:", back["content"])
