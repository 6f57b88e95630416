"""Respond over Chat in core: items → chat messages, output items, chaining, truncation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from modelport.core.errors import ContextLengthExceeded, InvalidRequest
from modelport.core.generation import Collected
from modelport.core.responses.conversations import ConversationStore
from modelport.core.responses.items import (
    FunctionCallItem,
    FunctionCallOutputItem,
    MessageItem,
    ReasoningItem,
    RespondRequest,
    ResponseCreated,
    ResponseDone,
)
from modelport.core.responses.over_chat import (
    ChatResponder,
    chat_messages,
    item_param,
    output_items,
)
from modelport.core.responses.store import ResponseStore
from modelport.core.types import (
    ChatRequest,
    Finish,
    ImagePart,
    Message,
    Started,
    TextDelta,
    TextPart,
    ToolCall,
    Usage,
)


def _user(text: str, i: int = 0) -> MessageItem:
    return MessageItem(id=f"msg_{i}", role="user", content=(TextPart(text=text),))


def test_items_become_chat_messages() -> None:
    image = ImagePart(url="data:image/png;base64,AAAA")
    items = (
        MessageItem(id="m1", role="user", content=(TextPart(text="look"), image)),
        FunctionCallItem(id="fc_a", call_id="a", name="f", arguments="{}"),
        FunctionCallItem(id="fc_b", call_id="b", name="g", arguments='{"x": 1}'),
        FunctionCallOutputItem(id="o1", call_id="a", output="1"),
        FunctionCallOutputItem(id="o2", call_id="b", output="2"),
    )
    messages = chat_messages("be brief", items, has_tools=True)
    assert messages[0] == Message(role="developer", content="be brief")
    assert messages[1].content == (TextPart(text="look"), image)
    assert messages[2].role == "assistant" and [c.id for c in messages[2].tool_calls] == ["a", "b"]
    assert [(m.role, m.tool_call_id, m.content) for m in messages[3:]] == [
        ("tool", "a", "1"),
        ("tool", "b", "2"),
    ]
    as_text = chat_messages(None, items, has_tools=False)  # no tools: calls become text
    assert not any(m.tool_calls for m in as_text) and "<tool_response>" in str(as_text[-1].content)


def _collected(text: str = "", calls: tuple[ToolCall, ...] = (), thinking: str = "") -> Collected:
    usage = Usage(prompt_tokens=1, completion_tokens=1)
    return Collected(
        text=text, reasoning=thinking, reason="stop", usage=usage, tool_calls=list(calls)
    )


def test_output_items() -> None:
    call = ToolCall(id="call_1", name="f", arguments="{}")
    ids = ("msg_x", "rs_x")
    assert [i.id for i in output_items(_collected(calls=(call,)), ids, "completed")] == [
        "fc_call_1"
    ]
    only_text = output_items(_collected("hi"), ids, "incomplete")
    assert isinstance(only_text[0], MessageItem) and only_text[0].status == "incomplete"
    assert len(output_items(_collected(), ids, "completed")) == 1  # always some output
    thought = output_items(_collected("hi", thinking="hm"), ids, "completed", summary=True)
    assert thought[0] == ReasoningItem(id="rs_x", text="hm", summary=("hm",))
    assert isinstance(thought[1], MessageItem)
    assert output_items(_collected(thinking="hm"), ids, "completed")[0].summary == ()  # type: ignore[union-attr]


def test_reasoning_items_go_back_to_the_turn_they_preceded() -> None:
    items = (
        _user("weather?"),
        ReasoningItem(id="rs_1", text="I need the tool."),
        FunctionCallItem(id="fc_a", call_id="a", name="f", arguments="{}"),
        FunctionCallOutputItem(id="o1", call_id="a", output="sunny"),
        ReasoningItem(id="rs_2", text="", summary=("It is sunny.",)),
        MessageItem(id="m2", role="assistant", content=(TextPart(text="Sunny."),)),
    )
    messages = chat_messages(None, items, has_tools=True)
    assert [(m.role, m.reasoning) for m in messages] == [
        ("user", None),
        ("assistant", "I need the tool."),
        ("tool", None),
        ("assistant", "It is sunny."),
    ]


class _Service:
    """Stands in for ModelService.chat: replies with the conversation length, and
    overflows when the conversation has more than ``fits`` messages."""

    def __init__(self, fits: int = 100):
        self.fits = fits
        self.seen: list[ChatRequest] = []

    async def chat(self, request: ChatRequest) -> AsyncIterator[Any]:
        self.seen.append(request)
        if len(request.messages) > self.fits:
            raise ContextLengthExceeded("too long", param="messages")
        yield Started(prompt_tokens=len(request.messages))
        yield TextDelta(text=f"{len(request.messages)} messages")
        yield Finish(reason="stop", usage=Usage(prompt_tokens=1, completion_tokens=2))


def _conversations(tmp_path: Path) -> ConversationStore:
    return ConversationStore(tmp_path / "r.sqlite3", max_age=None, max_count=10)


async def _run(responder: ChatResponder, request: RespondRequest) -> list[Any]:
    return [event async for event in responder.respond(request)]


def test_chained_responses_see_the_whole_conversation(tmp_path: Path) -> None:
    async def main() -> None:
        store = ResponseStore(tmp_path / "r.sqlite3", max_age=None, max_count=10)
        service = _Service()
        responder = ChatResponder(service, store, _conversations(tmp_path))  # type: ignore[arg-type]
        events = await _run(responder, RespondRequest(model="m", input=(_user("a"),)))
        assert isinstance(events[0], ResponseCreated) and isinstance(events[-1], ResponseDone)
        first = events[-1].response
        assert first.status == "completed" and first.output[0].id == events[0].message_id
        request = RespondRequest(model="m", input=(_user("b"),), previous_response_id=first.id)
        second = (await _run(responder, request))[-1].response
        assert [m.role for m in service.seen[-1].messages] == ["user", "assistant", "user"]
        assert second.history == first.conversation()
        assert (await store.get(second.id)).output == second.output
        store.close()

    asyncio.run(main())


def test_truncation(tmp_path: Path) -> None:
    async def main() -> None:
        store = ResponseStore(tmp_path / "r.sqlite3", max_age=None, max_count=10)
        responder = ChatResponder(_Service(fits=3), store, _conversations(tmp_path))  # type: ignore[arg-type]
        items = tuple(_user(str(i), i) for i in range(8))
        with pytest.raises(ContextLengthExceeded, match="truncation") as info:
            await _run(responder, RespondRequest(model="m", input=items))
        assert info.value.param == "input"
        request = RespondRequest(model="m", input=items, truncation="auto", store=False)
        done = (await _run(responder, request))[-1].response
        assert done.output[0].text() == "3 messages"  # the oldest dropped until 3 fit
        store.close()

    asyncio.run(main())


def test_chat_params_name_the_responses_request() -> None:
    history = (_user("old", 0),)
    request = RespondRequest(model="m", input=(_user("a", 1), _user("b", 2)), instructions="x")
    items = (*history, *request.input)
    assert item_param("messages[0]", request, items) == "instructions"
    assert item_param("messages[1].content[0]", request, items) == "previous_response_id"
    assert item_param("messages[3].content[1]", request, items) == "input[1].content[1]"
    assert item_param("max_tokens", request, items) == "max_output_tokens"
    assert item_param("response_format", request, items) == "text.format"
    schema = "response_format.json_schema.schema"
    assert item_param(schema, request, items) == "text.format.schema"
    assert item_param("tools[1].function.parameters", request, items) == "tools[1].parameters"


def test_a_conversation_grows_with_each_response(tmp_path: Path) -> None:
    async def main() -> None:
        store = ResponseStore(tmp_path / "r.sqlite3", max_age=None, max_count=10)
        conversations = _conversations(tmp_path)
        service = _Service()
        responder = ChatResponder(service, store, conversations)  # type: ignore[arg-type]
        await conversations.create("conv_1", (_user("a", 1),), {"k": "v"})
        request = RespondRequest(model="m", input=(_user("b", 2),), conversation="conv_1")
        first = (await _run(responder, request))[-1].response
        assert [m.role for m in service.seen[-1].messages] == ["user", "user"]
        grown = await conversations.get("conv_1")
        assert [i.id for i in grown.items] == ["msg_1", "msg_2", first.output[0].id]
        again = RespondRequest(model="m", input=(_user("c", 3),), conversation="conv_1")
        await _run(responder, again)
        assert [m.role for m in service.seen[-1].messages] == ["user", "user", "assistant", "user"]
        with pytest.raises(InvalidRequest) as info:  # an item it already has
            await _run(
                responder, RespondRequest(model="m", input=(_user("b", 2),), conversation="conv_1")
            )
        assert info.value.param == "input"
        assert len((await conversations.get("conv_1")).items) == 5
        store.close()
        conversations.close()

    asyncio.run(main())
