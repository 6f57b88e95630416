"""Reranking: POST /v1/rerank (and /rerank), in Jina's and Cohere's shape (as
llama-server and vLLM serve it)."""
