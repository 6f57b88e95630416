"""Core types of the Responses API: conversation items, the request, the stored response
and the events the Responses API yields (``modelport.core.responses``).

Items are what a conversation is made of (messages, function calls, their outputs);
every item has an id, so a stored response can list its inputs and a later request can
continue from them.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from ..types import (
    ContentPart,
    Effort,
    ReasoningDelta,
    ResponseFormat,
    Sampling,
    TextDelta,
    Tool,
    ToolCallDelta,
    ToolChoice,
    Usage,
)

__all__ = [
    "FunctionCallItem",
    "FunctionCallOutputItem",
    "Item",
    "MessageItem",
    "ReasoningItem",
    "RespondRequest",
    "ResponseCreated",
    "ResponseDone",
    "ResponseEvent",
    "ResponseStatus",
    "StoredResponse",
]


class _Value(msgspec.Struct, frozen=True, kw_only=True):
    """Base of these types: immutable values, keyword-only, safe to share."""


ItemStatus = Literal["in_progress", "completed", "incomplete"]


class MessageItem(_Value, frozen=True, kw_only=True, tag="message", tag_field="type"):
    id: str
    role: Literal["user", "system", "developer", "assistant"]
    content: tuple[ContentPart, ...]
    status: ItemStatus = "completed"

    def text(self) -> str:
        return "".join(getattr(p, "text", "") for p in self.content)


class FunctionCallItem(_Value, frozen=True, kw_only=True, tag="function_call", tag_field="type"):
    id: str
    call_id: str
    name: str
    arguments: str
    status: ItemStatus = "completed"


class FunctionCallOutputItem(
    _Value, frozen=True, kw_only=True, tag="function_call_output", tag_field="type"
):
    id: str
    call_id: str
    output: str
    status: ItemStatus = "completed"


class ReasoningItem(_Value, frozen=True, kw_only=True, tag="reasoning", tag_field="type"):
    """A reasoning model's thinking before its answer: ``text`` is the model's own
    thinking, word for word; ``summary`` holds it again when the request asked for a
    summary (modelport writes no summary of its own)."""

    id: str
    text: str
    summary: tuple[str, ...] = ()
    status: ItemStatus = "completed"


Item = MessageItem | FunctionCallItem | FunctionCallOutputItem | ReasoningItem
ResponseStatus = Literal["in_progress", "completed", "incomplete", "failed"]


class RespondRequest(_Value, frozen=True, kw_only=True):
    """One ``POST /v1/responses``: this turn's input items and how to generate."""

    model: str
    input: tuple[Item, ...]
    instructions: str | None = None
    previous_response_id: str | None = None
    sampling: Sampling = Sampling()
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice = ToolChoice()
    parallel_tool_calls: bool = True
    text_format: ResponseFormat = ResponseFormat()
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    user: str | None = None
    truncation: Literal["auto", "disabled"] = "disabled"
    store: bool = True
    # ``reasoning.effort`` and whether ``reasoning.summary`` asked for a summary.
    reasoning_effort: Effort | None = None
    reasoning_summary: Literal["auto", "concise", "detailed"] | None = None
    # A stored conversation: its items come first, this turn's input and output are
    # appended to it (not with previous_response_id).
    conversation: str | None = None


class StoredResponse(_Value, frozen=True, kw_only=True):
    """A response as stored and served back: its request, the conversation before it
    (``history``, the items of the responses it continues) and what the model produced."""

    id: str
    created_at: int
    request: RespondRequest
    history: tuple[Item, ...] = ()
    status: ResponseStatus = "in_progress"
    output: tuple[Item, ...] = ()
    incomplete_reason: Literal["max_output_tokens", "content_filter"] | None = None
    completed_at: int | None = None
    usage: Usage | None = None

    def conversation(self) -> tuple[Item, ...]:
        """Everything a continuation of this response sees before its own input."""
        return (*self.history, *self.request.input, *self.output)


class ResponseCreated(_Value, frozen=True, kw_only=True, tag="created", tag_field="kind"):
    """First event: the prompt was accepted; ``response`` is in progress.
    ``message_id`` and ``reasoning_id`` are the ids the output message and the reasoning
    item will have, if there are any."""

    response: StoredResponse
    message_id: str
    reasoning_id: str = ""


class ResponseDone(_Value, frozen=True, kw_only=True, tag="done", tag_field="kind"):
    """Last event: the finished response (already stored when ``request.store``)."""

    response: StoredResponse


ResponseEvent = ResponseCreated | ReasoningDelta | TextDelta | ToolCallDelta | ResponseDone
