"""Rerank: documents ordered by relevance to a query (POST /v1/rerank, the shape of
Jina's and Cohere's APIs, as llama-server and vLLM serve it). all-minilm reranks by the
cosine similarity of its embeddings; a cross-encoder model would score each pair."""

import os

import httpx

base_url = os.environ.get("MODELPORT_BASE_URL", "http://127.0.0.1:8000/v1")
headers = {"Authorization": f"Bearer {os.environ.get('MODELPORT_API_KEY', 'modelport')}"}
model = os.environ.get("MODELPORT_RERANK_MODEL", "all-minilm")

documents = [
    "The stock market fell sharply on Tuesday.",
    "Knead the dough, let it rise, then bake the loaf at 220 degrees.",
    "Cats sleep for most of the day.",
    "Good bread needs flour, water, yeast and salt.",
]
answer = httpx.post(
    f"{base_url}/rerank",
    headers=headers,
    json={"model": model, "query": "How do I bake bread?", "documents": documents, "top_n": 3},
    timeout=60,
)
answer.raise_for_status()
for result in answer.json()["results"]:
    print(f"{result['relevance_score']:.3f}  {result['document']['text']}")
print(f"usage: {answer.json()['usage']['prompt_tokens']} tokens")
