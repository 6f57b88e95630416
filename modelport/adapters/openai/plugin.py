"""The OpenAI HTTP API, registered as a protocol adapter like any third party's
(entry point ``openai`` in pyproject.toml)."""

from __future__ import annotations

from modelport.core.adapters import AdapterRegistry, AdapterSpec
from modelport.core.hookspecs import hookimpl

from .chat import routes as chat
from .completions import routes as completions
from .conversations import routes as conversations
from .embeddings import routes as embeddings
from .images import routes as images
from .models import routes as models
from .rerank import routes as rerank
from .responses import routes as responses
from .tokenize import routes as tokenize

# One folder per endpoint family, each with its wire types, mapping, rendering and routes
# (rerank and tokenize, in llama-server's and vLLM's shapes, keep theirs in routes.py).
FAMILIES = (
    chat,
    completions,
    embeddings,
    models,
    images,
    responses,
    conversations,
    rerank,
    tokenize,
)

__all__ = ["register_adapters"]


@hookimpl
def register_adapters(registry: AdapterRegistry) -> None:
    registry.add(
        AdapterSpec(
            name="openai",
            routes=tuple(route for family in FAMILIES for route in family.ROUTES),
            bodies={
                path: body
                for family in FAMILIES
                for path, body in getattr(family, "BODIES", {}).items()
            },
            description="the OpenAI HTTP API: chat completions, completions, embeddings, "
            "models, images, responses, conversations; and rerank, tokenize, detokenize",
        )
    )
