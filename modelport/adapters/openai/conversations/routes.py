"""The routes: create, retrieve, update and delete a conversation; list, add, retrieve
and delete its items. The work is core's (``ConversationStore``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Response, delete, get, post
from litestar.params import FromPath, QueryParameter

from modelport.core.adapters import Body
from modelport.core.errors import Unsupported
from modelport.core.responses.conversations import Conversation, ConversationStore
from modelport.core.responses.items import Item
from modelport.core.responses.over_chat import new_id

from ..common import HttpRequest, Out, Wire, decode, json_response
from ..responses import render
from ..responses.mapping import input_item
from ..responses.routes import responder

__all__ = ["BODIES", "ROUTES"]

Metadata = Annotated[
    dict[Annotated[str, msgspec.Meta(max_length=64)], Annotated[str, msgspec.Meta(max_length=512)]],
    msgspec.Meta(max_length=16),
]


class CreateConversation(Wire, kw_only=True):
    items: list[dict[str, Any]] | None = None
    metadata: Metadata | None = None


class UpdateConversation(Wire, kw_only=True):
    metadata: Metadata


class AddItems(Wire, kw_only=True):
    items: list[dict[str, Any]]


class ConversationOut(Out, kw_only=True):
    id: str
    object: Literal["conversation"] = "conversation"
    created_at: int
    metadata: dict[str, str]


class ConversationDeleted(Out, kw_only=True):
    id: str
    object: Literal["conversation.deleted"] = "conversation.deleted"
    deleted: bool = True


def _store(request: HttpRequest) -> ConversationStore:
    """The conversations; an ``include`` query asks for output data this server does not
    make (sources, encrypted reasoning), so it is refused by name."""
    if request.query_params.getall("include", []) or request.query_params.getall("include[]", []):
        raise Unsupported(
            "'include' is not supported by modelport's conversations: items come whole",
            param="include",
        )
    return responder(request).conversations


def _out(conversation: Conversation) -> ConversationOut:
    return ConversationOut(
        id=conversation.id, created_at=conversation.created_at, metadata=conversation.metadata
    )


def _items(raw: list[dict[str, Any]]) -> tuple[Item, ...]:
    return tuple(input_item(item, f"items[{i}]") for i, item in enumerate(raw))


@post("/v1/conversations", status_code=200)
async def create_conversation(request: HttpRequest) -> Response[bytes]:
    body = decode(await request.body(), CreateConversation)
    made = await _store(request).create(
        new_id("conv"), _items(body.items or []), body.metadata or {}
    )
    return json_response(_out(made))


@get("/v1/conversations/{conversation_id:str}")
async def retrieve_conversation(
    request: HttpRequest, conversation_id: FromPath[str]
) -> Response[bytes]:
    return json_response(_out(await _store(request).get(conversation_id)))


@post("/v1/conversations/{conversation_id:str}", status_code=200)
async def update_conversation(
    request: HttpRequest, conversation_id: FromPath[str]
) -> Response[bytes]:
    body = decode(await request.body(), UpdateConversation)
    return json_response(
        _out(await _store(request).update(conversation_id, metadata=body.metadata))
    )


@delete("/v1/conversations/{conversation_id:str}", status_code=200)
async def delete_conversation(
    request: HttpRequest, conversation_id: FromPath[str]
) -> Response[bytes]:
    await _store(request).delete(conversation_id)
    return json_response(ConversationDeleted(id=conversation_id))


@get("/v1/conversations/{conversation_id:str}/items")
async def list_items(
    request: HttpRequest,
    conversation_id: FromPath[str],
    limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    order: Annotated[Literal["asc", "desc"], QueryParameter()] = "desc",
    after: Annotated[str | None, QueryParameter()] = None,
) -> Response[bytes]:
    """The conversation's items, newest first by default (``after``: an item id)."""
    items = (await _store(request).get(conversation_id)).items
    return json_response(render.item_list(items, limit=limit, order=order, after=after))


@post("/v1/conversations/{conversation_id:str}/items", status_code=200)
async def add_items(request: HttpRequest, conversation_id: FromPath[str]) -> Response[bytes]:
    """Append up to 20 items; the answer lists the added ones."""
    body = decode(await request.body(), AddItems)
    added = _items(body.items)
    await _store(request).update(conversation_id, add=added)
    return json_response(render.item_list(added, limit=len(added) or 1, order="asc", after=None))


@get("/v1/conversations/{conversation_id:str}/items/{item_id:str}")
async def retrieve_item(
    request: HttpRequest, conversation_id: FromPath[str], item_id: FromPath[str]
) -> Response[bytes]:
    conversation = await _store(request).get(conversation_id)
    return json_response(render.item_out(conversation.item(item_id)))


@delete("/v1/conversations/{conversation_id:str}/items/{item_id:str}", status_code=200)
async def delete_item(
    request: HttpRequest, conversation_id: FromPath[str], item_id: FromPath[str]
) -> Response[bytes]:
    """Drop one item; the answer is the conversation."""
    return json_response(_out(await _store(request).update(conversation_id, remove=item_id)))


ROUTES = [
    create_conversation,
    retrieve_conversation,
    update_conversation,
    delete_conversation,
    list_items,
    add_items,
    retrieve_item,
    delete_item,
]
BODIES: dict[str, Body] = {}
