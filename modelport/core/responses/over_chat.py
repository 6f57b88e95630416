"""The Responses API on top of ``Chat``, in core: it serves every chat model.

A request's conversation (the stored one it continues, then its own input items) becomes
a ``ChatRequest`` that goes through ``ModelService.chat``, so tools, structured outputs,
the model's contract and its slots all apply exactly as for chat completions. The
generated events come back as output items, and the finished response is stored.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator

import msgspec

from ..errors import ContextLengthExceeded, InvalidRequest, ModelportError, Overloaded
from ..generation import Collected, collect
from ..service import ModelService
from ..tools import check_tool_results, tool_messages
from ..types import (
    ChatEvent,
    ChatRequest,
    Message,
    ReasoningDelta,
    Started,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
)
from .conversations import ConversationStore
from .items import (
    FunctionCallItem,
    FunctionCallOutputItem,
    Item,
    MessageItem,
    ReasoningItem,
    RespondRequest,
    ResponseCreated,
    ResponseDone,
    ResponseEvent,
    StoredResponse,
)
from .store import ResponseStore

__all__ = ["ChatResponder", "chat_messages", "new_id", "output_items"]


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _converted(
    instructions: str | None, items: tuple[Item, ...]
) -> tuple[list[Message], list[str]]:
    """Chat messages, and where each came from (``"instructions"`` or an item's id)."""
    messages: list[Message] = []
    origins: list[str] = []
    if instructions:
        messages.append(Message(role="developer", content=instructions))
        origins.append("instructions")
    thinking: str | None = None  # a reasoning item's, for the assistant turn it precedes
    for item in items:
        if isinstance(item, ReasoningItem):
            thinking = "\n".join(filter(None, (thinking, item.text or "\n".join(item.summary))))
            continue
        if isinstance(item, FunctionCallItem):
            call = ToolCall(id=item.call_id, name=item.name, arguments=item.arguments)
            if messages and messages[-1].role == "assistant" and thinking is None:
                last = messages[-1]
                messages[-1] = msgspec.structs.replace(last, tool_calls=(*last.tool_calls, call))
                continue
            messages.append(Message(role="assistant", tool_calls=(call,), reasoning=thinking))
        elif isinstance(item, MessageItem):
            text_only = all(isinstance(p, TextPart) for p in item.content)
            content = item.text() if text_only else item.content
            reasoning = thinking if item.role == "assistant" else None
            messages.append(Message(role=item.role, content=content, reasoning=reasoning))
        else:
            messages.append(Message(role="tool", content=item.output, tool_call_id=item.call_id))
        if isinstance(item, MessageItem | FunctionCallItem) and messages[-1].role == "assistant":
            thinking = None
        origins.append(item.id)
    return messages, origins


def chat_messages(
    instructions: str | None, items: tuple[Item, ...], *, has_tools: bool
) -> tuple[Message, ...]:
    """Conversation items as chat messages: consecutive function calls join one assistant
    message, their outputs become ``tool`` messages."""
    out = tuple(_converted(instructions, items)[0])
    check_tool_results(out)  # every function call has its output
    if not has_tools and any(m.tool_calls or m.role == "tool" for m in out):
        out = tool_messages(out, ())  # earlier calls as text the model can read
    return out


# Chat request paths → the Responses request's own (first match wins).
_RENAMED = [
    (re.compile(r"^response_format(\.json_schema)?"), "text.format"),
    (re.compile(r"^max_tokens$"), "max_output_tokens"),
    (re.compile(r"^reasoning_effort$"), "reasoning.effort"),
    (re.compile(r"^(tools\[\d+\])\.function"), r"\1"),
]


def _chat_param(param: str | None) -> str | None:
    for pattern, replacement in _RENAMED:
        if param and pattern.match(param):
            return pattern.sub(replacement, param, count=1)
    return param


_MESSAGE_PARAM = re.compile(r"^messages\[(\d+)\](.*)$")


def item_param(param: str | None, request: RespondRequest, items: tuple[Item, ...]) -> str | None:
    """A chat error's ``messages[i]...`` param as the Responses request's own path:
    ``input[j]...``, ``instructions``, or ``previous_response_id`` for stored items."""
    match = _MESSAGE_PARAM.match(param or "")
    if match is None:
        return _chat_param(param)
    origins = _converted(request.instructions, items)[1]
    index = int(match.group(1))
    origin = origins[index] if index < len(origins) else None
    if origin == "instructions":
        return "instructions"
    ids = [item.id for item in request.input]
    if origin in ids:
        return f"input[{ids.index(origin)}]{match.group(2)}"
    return "previous_response_id"


def output_items(
    collected: Collected, ids: tuple[str, str], status: str, summary: bool = False
) -> list[Item]:
    """The output of one generation: a reasoning model's thinking as a reasoning item
    (also as its summary when one was asked for), its text as a message (when there is
    text, or when there is nothing else), then one item per function call. ``ids``: the
    message's and the reasoning item's."""
    text, calls, (message_id, reasoning_id) = collected.text, collected.tool_calls, ids
    items: list[Item] = []
    item_status = "incomplete" if status == "incomplete" else "completed"
    if collected.reasoning:
        items.append(
            ReasoningItem(
                id=reasoning_id,
                text=collected.reasoning,
                summary=(collected.reasoning,) if summary else (),
                status=item_status,  # type: ignore[arg-type]
            )
        )
    if text or not calls:
        items.append(
            MessageItem(
                id=message_id,
                role="assistant",
                content=(TextPart(text=text),),
                status=item_status,  # type: ignore[arg-type]
            )
        )
    items.extend(
        FunctionCallItem(id=f"fc_{c.id}", call_id=c.id, name=c.name, arguments=c.arguments)
        for c in calls
    )
    return items


def _drop_oldest(items: tuple[Item, ...]) -> tuple[Item, ...] | None:
    """``items`` less its oldest quarter (at least one item), never leaving an output
    whose call was dropped; None when nothing more can go."""
    if len(items) <= 1:
        return None
    cut = max(1, len(items) // 4)
    rest = items[cut:]
    while len(rest) > 1 and isinstance(rest[0], FunctionCallOutputItem):
        rest = rest[1:]
    return rest


class ChatResponder:
    """The Responses API over any chat model of ``service``, stored in ``store``."""

    def __init__(
        self, service: ModelService, store: ResponseStore, conversations: ConversationStore
    ):
        self.service = service
        self.store = store
        self.conversations = conversations

    async def history(self, request: RespondRequest) -> tuple[Item, ...]:
        """What the model sees before this turn's input: the conversation's items, or
        the chain of ``previous_response_id``."""
        if request.conversation is not None:
            return (await self.conversations.get(request.conversation)).items
        if request.previous_response_id is None:
            return ()
        previous = await self.store.get(request.previous_response_id)
        return previous.conversation()

    def chat_request(self, request: RespondRequest, items: tuple[Item, ...]) -> ChatRequest:
        return ChatRequest(
            model=request.model,
            messages=chat_messages(request.instructions, items, has_tools=bool(request.tools)),
            sampling=request.sampling,
            tools=request.tools,
            tool_choice=request.tool_choice,
            parallel_tool_calls=request.parallel_tool_calls,
            response_format=request.text_format,
            user=request.user,
            reasoning_effort=request.reasoning_effort,
        )

    async def _start(
        self, request: RespondRequest, items: tuple[Item, ...]
    ) -> tuple[Started, AsyncGenerator[ChatEvent, None]]:
        """The chat stream and its first event; with ``truncation="auto"`` the oldest
        items are dropped until the prompt fits the model's context."""
        while True:
            try:
                chat = self.chat_request(request, items)
            except InvalidRequest as exc:
                _rename_param(exc, item_param(exc.param, request, items))
                raise
            stream = self.service.chat(chat)
            try:
                first = await anext(stream)
            except ContextLengthExceeded as exc:
                await stream.aclose()
                shorter = _drop_oldest(items) if request.truncation == "auto" else None
                if shorter is None or exc.param == "max_tokens":
                    raise _overflow(exc, request) from None
                items = shorter
                continue
            except (InvalidRequest, Overloaded) as exc:  # an image's 429 names its part too
                await stream.aclose()
                _rename_param(exc, item_param(exc.param, request, items))
                raise
            except BaseException:
                await stream.aclose()
                raise
            if not isinstance(first, Started):  # checked() guarantees it; for mypy
                await stream.aclose()
                raise InvalidRequest("generation did not start")
            return first, stream

    async def respond(self, request: RespondRequest) -> AsyncGenerator[ResponseEvent, None]:
        """``ResponseCreated``, text and tool-call deltas as they are generated, then
        ``ResponseDone`` with the finished (and, unless ``store`` is false, stored) response."""
        history = await self.history(request)
        if request.conversation is not None:
            clash = {i.id for i in history} & {i.id for i in request.input}
            if clash:
                raise InvalidRequest(
                    f"conversation {request.conversation!r} already has the input item "
                    f"{sorted(clash)[0]!r}; give new items only",
                    param="input",
                    code="invalid_value",
                )
        started, stream = await self._start(request, (*history, *request.input))
        response = StoredResponse(
            id=new_id("resp"), created_at=int(time.time()), request=request, history=history
        )
        ids = (new_id("msg"), new_id("rs"))
        yield ResponseCreated(response=response, message_id=ids[0], reasoning_id=ids[1])
        seen: list[ChatEvent] = [started]
        async with contextlib.aclosing(stream):
            async for event in stream:
                seen.append(event)
                if isinstance(event, ReasoningDelta | TextDelta | ToolCallDelta):
                    yield event
        collected = await collect(_replay(seen))
        status = "incomplete" if collected.reason == "length" else "completed"
        summary = request.reasoning_summary is not None
        output = output_items(collected, ids, status, summary)
        done = msgspec.structs.replace(
            response,
            status=status,
            output=tuple(output),
            incomplete_reason="max_output_tokens" if status == "incomplete" else None,
            completed_at=int(time.time()) if status == "completed" else None,
            usage=collected.usage,
        )
        if request.store:
            await self.store.put(done)
        if request.conversation is not None:
            added = (*request.input, *output)
            await self.conversations.update(request.conversation, add=added, limit_new=False)
        yield ResponseDone(response=done)


async def _replay(events: list[ChatEvent]) -> AsyncIterator[ChatEvent]:
    for event in events:
        yield event


def _rename_param(exc: ModelportError, param: str | None) -> None:
    if exc.param and param and param != exc.param:
        exc.message = exc.message.replace(exc.param, param)
        exc.args = (exc.message,)
    exc.param = param


def _overflow(exc: ContextLengthExceeded, request: RespondRequest) -> ContextLengthExceeded:
    if exc.param == "max_tokens":
        return ContextLengthExceeded(
            exc.message.replace("max_tokens", "max_output_tokens"), param="max_output_tokens"
        )
    hint = (
        ""
        if request.truncation == "auto"
        else "; set truncation to 'auto' to drop the oldest items"
    )
    return ContextLengthExceeded(f"{exc.message}{hint}", param="input")
