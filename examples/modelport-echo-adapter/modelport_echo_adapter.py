"""modelport-echo-adapter: a whole protocol adapter in one file, to copy. ``POST
/v1/echo`` takes ``{"model": ..., "text": ...}`` and answers with what the model said,
behind modelport's own API keys, body limit, metrics and error table."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Request, post

from modelport import plugin


class EchoIn(msgspec.Struct, kw_only=True):
    model: str
    text: str
    max_tokens: Annotated[int, msgspec.Meta(ge=1, le=256)] = 16


class EchoOut(msgspec.Struct, kw_only=True):
    model: str
    echo: str


@post("/v1/echo", status_code=200)
async def echo(request: Request) -> EchoOut:  # type: ignore[type-arg]
    try:
        body = msgspec.json.decode(await request.body(), type=EchoIn)
    except msgspec.DecodeError as exc:  # a 400 in the error envelope, never a 500
        raise plugin.InvalidRequest(f"invalid echo request: {exc}") from None
    chat = plugin.ChatRequest(
        model=body.model,
        messages=(plugin.Message(role="user", content=body.text),),
        sampling=plugin.Sampling(max_tokens=body.max_tokens),
    )
    service = request.app.state.service  # every model, its queue, its metrics
    said = [e.text async for e in service.chat(chat) if isinstance(e, plugin.TextDelta)]
    return EchoOut(model=body.model, echo="".join(said))


@plugin.hookimpl
def register_adapters(registry: plugin.AdapterRegistry) -> None:
    registry.add(
        plugin.AdapterSpec(
            name="echo",
            routes=(echo,),
            bodies={"/v1/echo": (EchoIn, EchoOut, False)},
            description="POST /v1/echo: what a chat model says to a text",
        )
    )
