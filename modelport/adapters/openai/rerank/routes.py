"""The route, its wire type and objects: a query and documents in; each document's
index and relevance score out, most relevant first, ``top_n`` of them, with its text
when ``return_documents``."""

from __future__ import annotations

from typing import Annotated

from litestar import Response, post
from msgspec import UNSET, Meta, UnsetType

from modelport.core.adapters import Body
from modelport.core.rerank import RerankRequest

from ..common import HttpRequest, Out, Wire, decode, json_response, service_of

__all__ = ["BODIES", "ROUTES"]


class Rerank(Wire, kw_only=True):
    model: str
    query: str
    documents: Annotated[list[str], Meta(min_length=1)]
    # How many results (default: every document), most relevant first.
    top_n: Annotated[int, Meta(ge=1)] | None = None
    # Each result carries its document's text (default true, as llama-server and Jina).
    return_documents: bool = True


class Document(Out, kw_only=True):
    text: str


class Result(Out, kw_only=True):
    index: int
    relevance_score: float
    document: Document | UnsetType = UNSET  # (with return_documents)


class RerankUsage(Out, kw_only=True):
    prompt_tokens: int
    total_tokens: int


class RerankList(Out, kw_only=True):
    object: str = "list"
    model: str
    results: list[Result]
    usage: RerankUsage


@post(["/v1/rerank", "/rerank"], status_code=200)
async def rerank(request: HttpRequest) -> Response[bytes]:
    body = decode(await request.body(), Rerank)
    core = RerankRequest(model=body.model, query=body.query, documents=tuple(body.documents))
    result = await service_of(request).rerank(core)
    order = sorted(range(len(result.scores)), key=lambda i: (-result.scores[i], i))
    results = [
        Result(
            index=i,
            relevance_score=result.scores[i],
            document=Document(text=body.documents[i]) if body.return_documents else UNSET,
        )
        for i in order[: body.top_n]
    ]
    usage = RerankUsage(prompt_tokens=result.prompt_tokens, total_tokens=result.prompt_tokens)
    return json_response(RerankList(model=body.model, results=results, usage=usage))


ROUTES = [rerank]
BODIES: dict[str, Body] = {
    "/v1/rerank": (Rerank, RerankList, False),
    "/rerank": (Rerank, RerankList, False),
}
