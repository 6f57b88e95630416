"""Stored chat completions (``store: true``): kept in the server's record store, listed,
retrieved, their metadata updated, deleted, and their input messages listed, as OpenAI's
API does (``/v1/chat/completions`` GET, ``/v1/chat/completions/{id}`` GET/POST/DELETE,
``/v1/chat/completions/{id}/messages`` GET)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

import msgspec
from litestar import Response, delete, get, post
from litestar.params import FromPath, QueryParameter

from modelport.core.errors import InvalidRequest
from modelport.core.generation import Collected
from modelport.core.records import Record, RecordStore, page

from ..common import HttpRequest, Meta, Out, decode, json_response, record_store
from . import render, wire

__all__ = ["ROUTES", "keeper"]

_encoder = msgspec.json.Encoder()


class _Stored(msgspec.Struct, kw_only=True):
    """A stored chat completion: the object as it was answered, and the request's
    messages as they were sent."""

    completion: dict[str, Any]
    messages: list[dict[str, Any]]


class _MetadataUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    metadata: dict[str, Annotated[str, msgspec.Meta(max_length=512)]] | None


class _List(Out, kw_only=True):
    object: Literal["list"] = "list"
    data: list[Any]
    first_id: str | None
    last_id: str | None
    has_more: bool


class _Deleted(Out, kw_only=True):
    object: Literal["chat.completion.deleted"] = "chat.completion.deleted"
    id: str
    deleted: bool = True


def _store(request: HttpRequest) -> RecordStore:
    return record_store(request, "chat_completions", noun="chat completion", param="completion_id")


def keeper(
    request: HttpRequest, meta: Meta, body: wire.ChatCompletionRequest, logprobs: bool
) -> Callable[[list[Collected]], Awaitable[None]] | None:
    """What stores the finished answer, when the request says ``store: true``."""
    if not body.store:
        return None
    metadata = body.metadata or {}
    messages = [msgspec.to_builtins(m) for m in body.messages]

    async def keep(results: list[Collected]) -> None:
        completion = render.chat_completion(meta, results, logprobs=logprobs, metadata=metadata)
        stored = _Stored(completion=msgspec.json.decode(completion), messages=messages)
        record = Record(
            id=meta.id, body=_encoder.encode(stored), model=meta.model, metadata=metadata
        )
        await _store(request).put(record)

    return keep


def _stored(record: Record) -> _Stored:
    return msgspec.json.decode(record.body, type=_Stored)


_METADATA_KEY = re.compile(r"^metadata\[(.+)\]$")


def _list_of(items: list[tuple[str, Any]], has_more: bool) -> _List:
    return _List(
        data=[item for _, item in items],
        first_id=items[0][0] if items else None,
        last_id=items[-1][0] if items else None,
        has_more=has_more,
    )


@get("/v1/chat/completions")
async def list_chat_completions(
    request: HttpRequest,
    model: Annotated[str | None, QueryParameter()] = None,
    after: Annotated[str | None, QueryParameter()] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    order: Annotated[Literal["asc", "desc"], QueryParameter()] = "asc",
) -> Response[bytes]:
    """Stored chat completions, oldest first by default; ``metadata[key]=value`` filters."""
    metadata = {}
    for key, value in request.query_params.items():
        match = _METADATA_KEY.match(key)
        if match:
            metadata[match.group(1)] = value
        elif key == "metadata":
            raise InvalidRequest(
                "filter by metadata as metadata[key]=value", param="metadata", code="invalid_value"
            )
    records = await _store(request).list(model=model, metadata=metadata, order=order)
    shown, more = page(records, after=after, limit=limit, id_of=lambda r: r.id)
    return json_response(_list_of([(r.id, _stored(r).completion) for r in shown], more))


@get("/v1/chat/completions/{completion_id:str}")
async def retrieve_chat_completion(
    request: HttpRequest, completion_id: FromPath[str]
) -> Response[bytes]:
    return json_response(_stored(await _store(request).get(completion_id)).completion)


@post("/v1/chat/completions/{completion_id:str}", status_code=200)
async def update_chat_completion(
    request: HttpRequest, completion_id: FromPath[str]
) -> Response[bytes]:
    """Replace the stored completion's metadata (the only field that can change)."""
    update = decode(await request.body(), _MetadataUpdate)
    store = _store(request)
    record = await store.get(completion_id)
    stored = _stored(record)
    metadata = update.metadata or {}
    stored.completion["metadata"] = metadata
    body = _encoder.encode(stored)
    await store.put(msgspec.structs.replace(record, body=body, metadata=metadata))
    return json_response(stored.completion)


@delete("/v1/chat/completions/{completion_id:str}", status_code=200)
async def delete_chat_completion(
    request: HttpRequest, completion_id: FromPath[str]
) -> Response[bytes]:
    await _store(request).delete(completion_id)
    return json_response(_Deleted(id=completion_id))


@get("/v1/chat/completions/{completion_id:str}/messages")
async def list_chat_completion_messages(
    request: HttpRequest,
    completion_id: FromPath[str],
    after: Annotated[str | None, QueryParameter()] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    order: Annotated[Literal["asc", "desc"], QueryParameter()] = "asc",
) -> Response[bytes]:
    """The request's messages, each with an id (``<completion id>-<index>``)."""
    stored = _stored(await _store(request).get(completion_id))
    messages = [_message(f"{completion_id}-{i}", m) for i, m in enumerate(stored.messages)]
    if order == "desc":
        messages.reverse()
    shown, more = page(messages, after=after, limit=limit, id_of=lambda m: str(m["id"]))
    return json_response(_list_of([(m["id"], m) for m in shown], more))


def _message(message_id: str, sent: dict[str, Any]) -> dict[str, Any]:
    """A sent message as listed: its text as ``content``, its parts (when it had parts)
    as ``content_parts``."""
    content = sent.get("content")
    parts = content if isinstance(content, list) else None
    text = (
        "".join(p.get("text", "") or p.get("refusal", "") for p in parts)
        if parts is not None
        else content
    )
    out = {**sent, "id": message_id, "content": text, "content_parts": parts}
    out.setdefault("refusal", None)
    return out


ROUTES = [
    list_chat_completions,
    retrieve_chat_completion,
    update_chat_completion,
    delete_chat_completion,
    list_chat_completion_messages,
]
