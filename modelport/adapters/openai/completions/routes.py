"""The routes: thin handlers from a decoded request to the service and back."""

from __future__ import annotations

from collections.abc import AsyncIterator

from litestar import Response, post
from litestar.response import Stream

from modelport.core.adapters import Body

from ..common import (
    HttpRequest,
    decode,
    meta_for,
    service_of,
)
from ..disconnect import Choices, answer_choices
from . import mapping, render, wire
from .objects import Completion

__all__ = ["BODIES", "ROUTES"]


@post("/v1/completions", status_code=200)
async def completions(request: HttpRequest) -> Response[bytes] | Stream:
    body = decode(await request.body(), wire.CompletionRequest)
    reqs = mapping.completion_requests(body)
    service = service_of(request)
    meta = meta_for("cmpl", body.model, service.entry(body.model))
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    n, logprobs = body.n or 1, body.logprobs is not None

    def frames(rest: Choices) -> AsyncIterator[bytes]:
        return render.completion_chunks(meta, rest, include_usage, n=n, logprobs=logprobs)

    return await answer_choices(
        request,
        service.choices(reqs),
        frames=frames if body.stream else None,
        whole=lambda results: render.completion(meta, results, n=n, logprobs=logprobs),
    )


ROUTES = [completions]
BODIES: dict[str, Body] = {"/v1/completions": (wire.CompletionRequest, Completion, True)}
