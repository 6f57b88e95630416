"""Responses API objects as msgspec Structs, shaped to validate against OpenAI's spec
(``Response``, ``ItemResource``, the ``ResponseStreamEvent`` members)."""

from __future__ import annotations

from typing import Any, Literal

from msgspec import UNSET, UnsetType, field

from ..common import Out

__all__ = [
    "ContentPartEvent",
    "FunctionCallArgumentsDelta",
    "FunctionCallArgumentsDone",
    "FunctionCallOut",
    "FunctionCallOutputOut",
    "InputImageOut",
    "InputTextOut",
    "MessageOut",
    "OutputItemEvent",
    "OutputTextOut",
    "ReasoningEcho",
    "ReasoningOut",
    "ReasoningTextEvent",
    "ReasoningTextOut",
    "ResponseDeleted",
    "ResponseItemList",
    "ResponseLifecycleEvent",
    "ResponseObject",
    "ResponseUsageOut",
    "StreamErrorEvent",
    "SummaryPartEvent",
    "SummaryTextEvent",
    "SummaryTextOut",
    "TextDeltaEvent",
    "TextDoneEvent",
]


class OutputTextOut(Out, kw_only=True):
    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[Any] = []
    logprobs: list[Any] = []


class InputTextOut(Out, kw_only=True):
    type: Literal["input_text"] = "input_text"
    text: str


class InputImageOut(Out, kw_only=True):
    type: Literal["input_image"] = "input_image"
    image_url: str
    detail: str


class MessageOut(Out, kw_only=True):
    id: str
    type: Literal["message"] = "message"
    role: str
    content: list[OutputTextOut | InputTextOut | InputImageOut]
    status: str


class FunctionCallOut(Out, kw_only=True):
    id: str
    type: Literal["function_call"] = "function_call"
    call_id: str
    name: str
    arguments: str
    status: str


class FunctionCallOutputOut(Out, kw_only=True):
    id: str
    type: Literal["function_call_output"] = "function_call_output"
    call_id: str
    output: str
    status: str


class SummaryTextOut(Out, kw_only=True):
    type: Literal["summary_text"] = "summary_text"
    text: str


class ReasoningTextOut(Out, kw_only=True):
    type: Literal["reasoning_text"] = "reasoning_text"
    text: str


class ReasoningOut(Out, kw_only=True):
    """A reasoning model's thinking: the model's own text in ``content`` (and again in
    ``summary`` when the request asked for one); nothing is encrypted."""

    id: str
    type: Literal["reasoning"] = "reasoning"
    summary: list[SummaryTextOut]
    content: list[ReasoningTextOut]
    encrypted_content: None = None
    status: str


ItemOut = MessageOut | FunctionCallOut | FunctionCallOutputOut | ReasoningOut


class InputTokensDetails(Out, kw_only=True):
    cached_tokens: int = 0
    cache_write_tokens: int = 0


class OutputTokensDetails(Out, kw_only=True):
    reasoning_tokens: int = 0


class ResponseUsageOut(Out, kw_only=True):
    input_tokens: int
    input_tokens_details: InputTokensDetails = field(default_factory=InputTokensDetails)
    output_tokens: int
    output_tokens_details: OutputTokensDetails = field(default_factory=OutputTokensDetails)
    total_tokens: int


class IncompleteDetails(Out, kw_only=True):
    reason: str


class ConversationRef(Out, kw_only=True):
    id: str


class ReasoningEcho(Out, kw_only=True):
    effort: str | None = None
    summary: str | None = None


class ResponseObject(Out, kw_only=True):
    id: str
    object: Literal["response"] = "response"
    created_at: int
    status: str
    completed_at: int | None
    error: None = None
    incomplete_details: IncompleteDetails | None
    instructions: str | None
    max_output_tokens: int | None
    model: str
    output: list[ItemOut]
    parallel_tool_calls: bool
    previous_response_id: str | None
    conversation: ConversationRef | None = None
    reasoning: ReasoningEcho | None = None
    store: bool
    temperature: float | None
    text: dict[str, Any]
    tool_choice: str | dict[str, Any]
    tools: list[dict[str, Any]]
    top_p: float | None
    truncation: str
    usage: ResponseUsageOut | UnsetType = UNSET
    user: str | UnsetType = UNSET
    metadata: dict[str, str]


class ResponseDeleted(Out, kw_only=True):
    id: str
    object: Literal["response.deleted"] = "response.deleted"
    deleted: bool = True


class ResponseItemList(Out, kw_only=True):
    object: Literal["list"] = "list"
    data: list[ItemOut]
    has_more: bool
    first_id: str | None
    last_id: str | None


# --- stream events --------------------------------------------------------------------


class _Event(Out, kw_only=True):
    type: str
    sequence_number: int = 0


class ResponseLifecycleEvent(_Event, kw_only=True):
    """response.created, .in_progress, .completed, .incomplete."""

    response: ResponseObject


class OutputItemEvent(_Event, kw_only=True):
    """response.output_item.added / .done."""

    output_index: int
    item: ItemOut


class ContentPartEvent(_Event, kw_only=True):
    """response.content_part.added / .done."""

    item_id: str
    output_index: int
    content_index: int = 0
    part: OutputTextOut | ReasoningTextOut


class ReasoningTextEvent(_Event, kw_only=True):
    """response.reasoning_text.delta (``delta``) / .done (``text``)."""

    item_id: str
    output_index: int
    content_index: int = 0
    delta: str | UnsetType = UNSET
    text: str | UnsetType = UNSET


class SummaryPartEvent(_Event, kw_only=True):
    """response.reasoning_summary_part.added / .done."""

    item_id: str
    output_index: int
    summary_index: int = 0
    part: SummaryTextOut


class SummaryTextEvent(_Event, kw_only=True):
    """response.reasoning_summary_text.delta (``delta``) / .done (``text``)."""

    item_id: str
    output_index: int
    summary_index: int = 0
    delta: str | UnsetType = UNSET
    text: str | UnsetType = UNSET


class TextDeltaEvent(_Event, kw_only=True):
    type: str = "response.output_text.delta"
    item_id: str
    output_index: int
    content_index: int = 0
    delta: str
    logprobs: list[Any] = []


class TextDoneEvent(_Event, kw_only=True):
    type: str = "response.output_text.done"
    item_id: str
    output_index: int
    content_index: int = 0
    text: str
    logprobs: list[Any] = []


class FunctionCallArgumentsDelta(_Event, kw_only=True):
    type: str = "response.function_call_arguments.delta"
    item_id: str
    output_index: int
    delta: str


class FunctionCallArgumentsDone(_Event, kw_only=True):
    type: str = "response.function_call_arguments.done"
    item_id: str
    name: str
    output_index: int
    arguments: str


class StreamErrorEvent(_Event, kw_only=True):
    type: str = "error"
    code: str | None
    message: str
    param: str | None
