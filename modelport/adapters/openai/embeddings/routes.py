"""The routes: thin handlers from a decoded request to the service and back."""

from __future__ import annotations

from litestar import Response, post

from modelport.core.adapters import Body

from ..common import (
    JSON,
    HttpRequest,
    decode,
    service_of,
)
from . import mapping, render, wire
from .objects import EmbeddingList

__all__ = ["BODIES", "ROUTES"]


@post("/v1/embeddings", status_code=200)
async def embeddings(request: HttpRequest) -> Response[bytes]:
    body = decode(await request.body(), wire.EmbeddingRequest)
    result = await service_of(request).embed(mapping.embed_request(body))
    return Response(
        render.embedding_list(body.model, result, body.encoding_format), media_type=JSON
    )


ROUTES = [embeddings]
BODIES: dict[str, Body] = {"/v1/embeddings": (wire.EmbeddingRequest, EmbeddingList, False)}
