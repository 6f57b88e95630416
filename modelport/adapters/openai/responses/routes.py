"""The Responses API routes: ``POST /v1/responses`` (plain and streamed), and
``GET``/``DELETE /v1/responses/{id}`` and ``GET /v1/responses/{id}/input_items`` on the
store. The work is core's (``ChatResponder``); these handlers only map and render."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

from litestar import Response, delete, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream

from modelport.core.adapters import Body
from modelport.core.config import Config
from modelport.core.errors import BackendError
from modelport.core.responses.conversations import ConversationStore
from modelport.core.responses.items import ResponseCreated, ResponseDone, ResponseEvent
from modelport.core.responses.over_chat import ChatResponder
from modelport.core.responses.store import ResponseStore

from ..common import HttpRequest, decode, json_response, prepend
from ..disconnect import CLIENT_CLOSED_REQUEST, while_connected
from . import render
from .mapping import respond_request
from .objects import ResponseDeleted
from .wire import CreateResponseRequest

__all__ = ["BODIES", "ROUTES"]

JSON = "application/json"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def responder(request: HttpRequest) -> ChatResponder:
    """The app's responder, its response store and its conversations, made on first use."""
    state = request.app.state
    made: ChatResponder | None = state.get("responder")
    if made is None:
        config: Config = state.config
        age = config.server.responses_max_age_seconds()
        count = config.server.responses_max_count
        made = state["responder"] = ChatResponder(
            state.service,
            ResponseStore(state.store, max_age=age, max_count=count),
            ConversationStore(state.store, max_age=age, max_count=count),
        )
    return made


async def _finished(events: AsyncIterator[ResponseEvent]) -> ResponseDone:
    try:
        async for event in events:
            if isinstance(event, ResponseDone):
                return event
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    raise BackendError("the response ended without a result")


@post("/v1/responses", status_code=200)
async def create_response(request: HttpRequest) -> Response[bytes] | Stream:
    body = decode(await request.body(), CreateResponseRequest)
    events = responder(request).respond(respond_request(body))
    try:
        first = await anext(events)  # early failures get real statuses
    except BaseException:
        await events.aclose()
        raise
    assert isinstance(first, ResponseCreated)
    if body.stream:
        frames = render.stream_events(prepend(first, events), body.model)
        return Stream(frames, media_type="text/event-stream", headers=SSE_HEADERS)
    done = await while_connected(request, _finished(events))
    if done is None:
        return Response(b"", status_code=CLIENT_CLOSED_REQUEST)
    return json_response(render.response_object(done.response, body.model))


@get("/v1/responses/{response_id:str}")
async def retrieve_response(request: HttpRequest, response_id: FromPath[str]) -> Response[bytes]:
    stored = await responder(request).store.get(response_id)
    return json_response(render.response_object(stored))


@delete("/v1/responses/{response_id:str}", status_code=200)
async def delete_response(request: HttpRequest, response_id: FromPath[str]) -> Response[bytes]:
    await responder(request).store.delete(response_id)
    return json_response(ResponseDeleted(id=response_id))


@get("/v1/responses/{response_id:str}/input_items")
async def list_input_items(
    request: HttpRequest,
    response_id: FromPath[str],
    limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    order: Annotated[Literal["asc", "desc"], QueryParameter()] = "desc",
    after: Annotated[str | None, QueryParameter()] = None,
) -> Response[bytes]:
    stored = await responder(request).store.get(response_id)
    page = render.item_list(stored.request.input, limit=limit, order=order, after=after)
    return json_response(page)


ROUTES = [create_response, retrieve_response, delete_response, list_input_items]
# (The output objects hold an untagged union msgspec cannot express as a schema, so the
# 200 body stays generic for now.)
BODIES: dict[str, Body] = {"/v1/responses": (CreateResponseRequest, None, True)}
