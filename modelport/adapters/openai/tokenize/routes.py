"""The routes, their wire types and objects: a text (``content``, or vLLM's
``prompt``) or chat ``messages`` in, token ids out (with ``with_pieces``, each with its
text, as llama-server gives them); token ids in, text out (``content``, and vLLM's
``prompt``)."""

from __future__ import annotations

from typing import Annotated

from litestar import Response, post
from msgspec import Meta

from modelport.core.adapters import Body
from modelport.core.errors import InvalidRequest
from modelport.core.tokenization import DetokenizeRequest, TokenizeRequest

from ..chat import wire as chat_wire
from ..chat.mapping import messages_of
from ..common import HttpRequest, Out, Wire, decode, json_response, service_of

__all__ = ["BODIES", "ROUTES"]

TokenId = Annotated[int, Meta(ge=0)]


class Tokenize(Wire, kw_only=True):
    model: str
    # The text (llama-server's name) ...
    content: str | None = None
    # ... or the same under vLLM's name ...
    prompt: str | None = None
    # ... or chat messages, rendered with the model's chat template as chat completions
    # render them (the generation prompt added).
    messages: list[chat_wire.Message] | None = None
    # With a text: add the model's special tokens (BOS; an encoder's CLS and SEP), as
    # its completions or embeddings do (default true). vLLM's name is accepted too.
    add_special: bool | None = None
    add_special_tokens: bool | None = None
    # Each token with its text (a string, or its bytes when they are not valid UTF-8).
    with_pieces: bool = False
    # With a text: the prompt of a fill-in-the-middle completion with this suffix (the
    # model's FIM tokens around the text and the suffix), as /v1/completions builds it.
    suffix: str | None = None


class Detokenize(Wire, kw_only=True):
    model: str
    tokens: list[TokenId]


class PieceOut(Out, kw_only=True):
    id: int
    piece: str | list[int]


class Tokens(Out, kw_only=True):
    model: str
    tokens: list[int | PieceOut]  # (ids; with with_pieces, each with its piece)
    count: int
    max_model_len: int | None


class Text(Out, kw_only=True):
    model: str
    content: str
    prompt: str


def _request(body: Tokenize) -> TokenizeRequest:
    given = [
        name
        for name, value in (
            ("content", body.content),
            ("prompt", body.prompt),
            ("messages", body.messages),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise InvalidRequest(
            "give exactly one of content, prompt or messages"
            + (f" (got {', '.join(given)})" if given else ""),
            param=given[-1] if given else "content",
            code="invalid_value",
        )
    if body.add_special is not None and body.add_special_tokens is not None:
        raise InvalidRequest(
            "give add_special or add_special_tokens, not both",
            param="add_special_tokens",
            code="invalid_value",
        )
    add_special = body.add_special if body.add_special is not None else body.add_special_tokens
    if body.suffix is not None and body.messages is not None:
        raise InvalidRequest(
            "suffix goes with a text (a fill-in-the-middle prefix), not with messages",
            param="suffix",
            code="invalid_value",
        )
    if body.messages is not None and add_special is not None:
        raise InvalidRequest(
            "add_special applies to a text; messages are tokenized as chat completions "
            "tokenize them",
            param="add_special" if body.add_special is not None else "add_special_tokens",
            code="invalid_value",
        )
    return TokenizeRequest(
        model=body.model,
        text=body.content if body.content is not None else body.prompt,
        messages=None if body.messages is None else messages_of(body.messages),
        add_special=add_special,
        with_pieces=body.with_pieces,
        suffix=body.suffix,
    )


@post(["/tokenize", "/v1/tokenize"], status_code=200)
async def tokenize(request: HttpRequest) -> Response[bytes]:
    body = decode(await request.body(), Tokenize)
    result = await service_of(request).tokenize(_request(body))
    tokens: list[int | PieceOut] = list(result.tokens)
    if result.pieces is not None:
        tokens = [
            PieceOut(id=p.id, piece=p.piece if isinstance(p.piece, str) else list(p.piece))
            for p in result.pieces
        ]
    return json_response(
        Tokens(
            model=body.model,
            tokens=tokens,
            count=len(result.tokens),
            max_model_len=result.max_model_len,
        )
    )


@post(["/detokenize", "/v1/detokenize"], status_code=200)
async def detokenize(request: HttpRequest) -> Response[bytes]:
    body = decode(await request.body(), Detokenize)
    core = DetokenizeRequest(model=body.model, tokens=tuple(body.tokens))
    result = await service_of(request).detokenize(core)
    return json_response(Text(model=body.model, content=result.text, prompt=result.text))


ROUTES = [tokenize, detokenize]
BODIES: dict[str, Body] = {
    "/tokenize": (Tokenize, Tokens, False),
    "/v1/tokenize": (Tokenize, Tokens, False),
    "/detokenize": (Detokenize, Text, False),
    "/v1/detokenize": (Detokenize, Text, False),
}
