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
from .objects import ChatCompletion

__all__ = ["BODIES", "ROUTES"]


@post("/v1/chat/completions", status_code=200)
async def chat_completions(request: HttpRequest) -> Response[bytes] | Stream:
    body = decode(await request.body(), wire.ChatCompletionRequest)
    req = mapping.chat_request(body)
    service = service_of(request)
    meta = meta_for("chatcmpl", body.model, service.entry(req.model))
    choices = service.choices([req])
    first = await first_event(request, choices)
    if first is None:
        return Response(b"", status_code=CLIENT_CLOSED_REQUEST)
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        frames = render.chat_chunks(
            meta, prepend(first, choices), include_usage, logprobs=req.sampling.logprobs
        )
        return stream_of(frames)
    results = await while_connected(request, collect_choices(prepend(first, choices)))
    if results is None:
        return Response(b"", status_code=CLIENT_CLOSED_REQUEST)
    return Response(
        render.chat_completion(meta, results, logprobs=req.sampling.logprobs), media_type=JSON
    )


ROUTES = [chat_completions]
BODIES: dict[str, Body] = {
    "/v1/chat/completions": (wire.ChatCompletionRequest, ChatCompletion, True)
}
