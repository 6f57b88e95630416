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
from . import mapping, render, stored, wire
from .objects import ChatCompletion

__all__ = ["BODIES", "ROUTES"]


@post("/v1/chat/completions", status_code=200)
async def chat_completions(request: HttpRequest) -> Response[bytes] | Stream:
    body = decode(await request.body(), wire.ChatCompletionRequest)
    req = mapping.chat_request(body)
    service = service_of(request)
    meta = meta_for("chatcmpl", body.model, service.entry(req.model))
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    logprobs = req.sampling.logprobs

    def frames(rest: Choices) -> AsyncIterator[bytes]:
        return render.chat_chunks(meta, rest, include_usage, logprobs=logprobs)

    return await answer_choices(
        request,
        service.choices([req]),
        frames=frames if body.stream else None,
        whole=lambda results: render.chat_completion(
            meta, results, logprobs=logprobs, metadata=body.metadata
        ),
        keep=stored.keeper(request, meta, body, logprobs),
    )


ROUTES = [chat_completions, *stored.ROUTES]
BODIES: dict[str, Body] = {
    "/v1/chat/completions": (wire.ChatCompletionRequest, ChatCompletion, True)
}
