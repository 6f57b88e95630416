"""Thin route handlers: bytes in, wire type → core request → service → wire bytes out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar

from litestar import Response, get, post
from litestar.params import FromPath
from litestar.response import Stream

from modelport.core.generation import collect_choices
from modelport.core.manager import ModelEntry
from modelport.core.service import ModelService

from . import mapping, render, wire
from .common import HttpRequest, prepend
from .disconnect import CLIENT_CLOSED_REQUEST, while_connected
from .images import IMAGE_ROUTES
from .objects import ModelList, ModelObject
from .responses import RESPONSE_ROUTES

__all__ = ["ROUTES"]

T = TypeVar("T")
JSON = "application/json"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _service(request: HttpRequest) -> ModelService:
    return request.app.state.service  # type: ignore[no-any-return]


async def _first(request: HttpRequest, events: AsyncIterator[T]) -> T | None:
    """Await the first event before answering, so early failures get real statuses; None
    when the client went away meanwhile (waiting in the model's queue, for one), which
    drops the request."""

    async def first() -> T:
        try:
            return await anext(events)
        except BaseException:
            await events.aclose()  # type: ignore[attr-defined]
            raise

    return await while_connected(request, first())


def _meta(prefix: str, model: str, entry: ModelEntry) -> render.Meta:
    return render.Meta(prefix=prefix, model=model, fingerprint=entry.fingerprint())


def _stream(frames: AsyncIterator[bytes]) -> Stream:
    return Stream(render.sse(frames), media_type="text/event-stream", headers=SSE_HEADERS)


@post("/v1/chat/completions", status_code=200)
async def chat_completions(request: HttpRequest) -> Response[bytes] | Stream:
    body = mapping.decode(await request.body(), wire.ChatCompletionRequest)
    req = mapping.chat_request(body)
    service = _service(request)
    meta = _meta("chatcmpl", body.model, service.entry(req.model))
    choices = service.choices([req])
    first = await _first(request, choices)
    if first is None:
        return Response(b"", status_code=CLIENT_CLOSED_REQUEST)
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        frames = render.chat_chunks(
            meta, prepend(first, choices), include_usage, logprobs=req.sampling.logprobs
        )
        return _stream(frames)
    results = await while_connected(request, collect_choices(prepend(first, choices)))
    if results is None:
        return Response(b"", status_code=CLIENT_CLOSED_REQUEST)
    return Response(
        render.chat_completion(meta, results, logprobs=req.sampling.logprobs), media_type=JSON
    )


@post("/v1/completions", status_code=200)
async def completions(request: HttpRequest) -> Response[bytes] | Stream:
    body = mapping.decode(await request.body(), wire.CompletionRequest)
    reqs = mapping.completion_requests(body)
    service = _service(request)
    meta = _meta("cmpl", body.model, service.entry(body.model))
    choices = service.choices(reqs)
    first = await _first(request, choices)
    if first is None:
        return Response(b"", status_code=CLIENT_CLOSED_REQUEST)
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        frames = render.completion_chunks(
            meta,
            prepend(first, choices),
            include_usage,
            n=body.n or 1,
            logprobs=body.logprobs is not None,
        )
        return _stream(frames)
    results = await while_connected(request, collect_choices(prepend(first, choices)))
    if results is None:
        return Response(b"", status_code=CLIENT_CLOSED_REQUEST)
    body_bytes = render.completion(meta, results, n=body.n or 1, logprobs=body.logprobs is not None)
    return Response(body_bytes, media_type=JSON)


@post("/v1/embeddings", status_code=200)
async def embeddings(request: HttpRequest) -> Response[bytes]:
    body = mapping.decode(await request.body(), wire.EmbeddingRequest)
    result = await _service(request).embed(mapping.embed_request(body))
    return Response(
        render.embedding_list(body.model, result, body.encoding_format), media_type=JSON
    )


def _model_object(entry: ModelEntry) -> ModelObject:
    return ModelObject(
        id=entry.name,
        created=entry.created,
        owned_by=entry.config.owned_by,
        backend=entry.spec.name,
        aliases=list(entry.config.aliases),
        capabilities={
            "serves": sorted(entry.capabilities),
            "features": sorted(entry.features),
            "state": entry.state,
        },
    )


@get("/v1/models")
async def list_models(request: HttpRequest) -> ModelList:
    entries = _service(request).manager.entries.values()
    return ModelList(data=[_model_object(e) for e in entries])


@get("/v1/models/{model:path}")
async def retrieve_model(request: HttpRequest, model: FromPath[str]) -> ModelObject:
    return _model_object(_service(request).entry(model.lstrip("/")))


@get("/health")
async def health(request: HttpRequest) -> Response[dict[str, object]]:
    manager = _service(request).manager
    entries = manager.entries.values()
    failed = any(e.state == "failed" for e in entries)
    status = "degraded" if failed else "ok"
    if not manager.config.server.health_details:
        return Response({"status": status})
    models = {
        e.name: {"state": e.state, "error": e.error, "active": e.active, "queued": e.waiting}
        for e in entries
    }
    return Response({"status": status, "models": models})


ROUTES = [chat_completions, completions, embeddings, list_models, retrieve_model, health]
ROUTES += IMAGE_ROUTES
ROUTES += RESPONSE_ROUTES
