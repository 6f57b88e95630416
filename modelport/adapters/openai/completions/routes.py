"""The routes: thin handlers from a decoded request to the service and back."""

from __future__ import annotations

from litestar import Response, post
from litestar.response import Stream

from modelport.core.adapters import Body
from modelport.core.generation import collect_choices

from ..common import (
    JSON,
    HttpRequest,
    decode,
    meta_for,
    prepend,
    service_of,
    stream_of,
)
from ..disconnect import CLIENT_CLOSED_REQUEST, first_event, while_connected
from . import mapping, render, wire
from .objects import Completion

__all__ = ["BODIES", "ROUTES"]


@post("/v1/completions", status_code=200)
async def completions(request: HttpRequest) -> Response[bytes] | Stream:
    body = decode(await request.body(), wire.CompletionRequest)
    reqs = mapping.completion_requests(body)
    service = service_of(request)
    meta = meta_for("cmpl", body.model, service.entry(body.model))
    choices = service.choices(reqs)
    first = await first_event(request, choices)
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
        return stream_of(frames)
    results = await while_connected(request, collect_choices(prepend(first, choices)))
    if results is None:
        return Response(b"", status_code=CLIENT_CLOSED_REQUEST)
    body_bytes = render.completion(meta, results, n=body.n or 1, logprobs=body.logprobs is not None)
    return Response(body_bytes, media_type=JSON)


ROUTES = [completions]
BODIES: dict[str, Body] = {"/v1/completions": (wire.CompletionRequest, Completion, True)}
