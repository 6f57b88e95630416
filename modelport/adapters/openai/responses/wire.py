"""``POST /v1/responses`` request bodies as msgspec Structs (OpenAI's ``CreateResponse``).

Input items may omit ``type`` (a bare ``{"role", "content"}`` is a message), so the body
keeps them as plain objects and ``responses_mapping`` converts each one to its Struct,
with errors that name the item's JSON path.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, UnsetType

from modelport.core.types import Effort

from ..common import Wire
from ..sampling import SamplingFields

__all__ = [
    "CreateResponseRequest",
    "FunctionCallIn",
    "FunctionCallOutputIn",
    "FunctionToolIn",
    "InputImage",
    "InputText",
    "ItemIn",
    "MessageIn",
    "ReasoningIn",
    "ReasoningParam",
]

# --- content parts of input messages ---------------------------------------------


class InputText(Wire, kw_only=True, tag="input_text", tag_field="type"):
    text: str


class InputImage(Wire, kw_only=True, tag="input_image", tag_field="type"):
    image_url: Annotated[str, Meta(min_length=1)] | None = None
    file_id: str | None = None
    detail: Literal["auto", "low", "high", "original"] = "auto"


class InputFile(Wire, kw_only=True, tag="input_file", tag_field="type"):
    file_id: str | None = None


class InputAudio(Wire, kw_only=True, tag="input_audio", tag_field="type"):
    input_audio: dict[str, Any] | None = None


class OutputText(Wire, kw_only=True, tag="output_text", tag_field="type"):
    """An earlier assistant message's text, passed back as input."""

    text: str
    annotations: list[Any] = []


class Refusal(Wire, kw_only=True, tag="refusal", tag_field="type"):
    refusal: str


ContentIn = InputText | InputImage | InputFile | InputAudio | OutputText | Refusal

# --- input items --------------------------------------------------------------------

ItemStatus = Literal["in_progress", "completed", "incomplete"]


class MessageIn(Wire, kw_only=True, tag="message", tag_field="type"):
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[ContentIn]
    id: str | None = None
    status: ItemStatus | None = None
    phase: str | None = None


class FunctionCallIn(Wire, kw_only=True, tag="function_call", tag_field="type"):
    call_id: Annotated[str, Meta(min_length=1)]
    name: Annotated[str, Meta(min_length=1)]
    arguments: str
    id: str | None = None
    status: ItemStatus | None = None


class FunctionCallOutputIn(Wire, kw_only=True, tag="function_call_output", tag_field="type"):
    call_id: Annotated[str, Meta(min_length=1, max_length=64)]
    output: str | list[ContentIn]
    id: str | None = None
    status: ItemStatus | None = None


class SummaryTextIn(Wire, kw_only=True, tag="summary_text", tag_field="type"):
    text: str


class ReasoningTextIn(Wire, kw_only=True, tag="reasoning_text", tag_field="type"):
    text: str


class ReasoningIn(Wire, kw_only=True, tag="reasoning", tag_field="type"):
    """An earlier reasoning item, given back as it was returned."""

    summary: list[SummaryTextIn]
    content: list[ReasoningTextIn] | None = None
    encrypted_content: str | None = None
    id: str | None = None
    status: ItemStatus | None = None


ItemIn = MessageIn | FunctionCallIn | FunctionCallOutputIn | ReasoningIn
ITEM_TYPES: dict[str, type[ItemIn]] = {
    "message": MessageIn,
    "function_call": FunctionCallIn,
    "function_call_output": FunctionCallOutputIn,
    "reasoning": ReasoningIn,
}

# --- tools and text formats ---------------------------------------------------------


class FunctionToolIn(Wire, kw_only=True, tag="function", tag_field="type"):
    name: Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolChoiceFunction(Wire, kw_only=True, tag="function", tag_field="type"):
    name: str


class TextFormatText(Wire, kw_only=True, tag="text", tag_field="type"):
    pass


class TextFormatJsonObject(Wire, kw_only=True, tag="json_object", tag_field="type"):
    pass


class TextFormatJsonSchema(Wire, kw_only=True, tag="json_schema", tag_field="type"):
    name: Annotated[str, Meta(min_length=1, max_length=64)]
    schema: dict[str, Any]
    description: str | None = None
    strict: bool | None = None


TextFormat = TextFormatText | TextFormatJsonObject | TextFormatJsonSchema


class ConversationParam(Wire, kw_only=True):
    id: Annotated[str, Meta(min_length=1)]


class ReasoningParam(Wire, kw_only=True):
    """``reasoning``: how long a reasoning model thinks, and whether to show a summary."""

    effort: Effort | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None
    generate_summary: Literal["auto", "concise", "detailed"] | None = None  # (deprecated)
    context: Literal["auto", "current_turn", "all_turns"] | None = None
    mode: str | None = None


class TextParam(Wire, kw_only=True):
    format: TextFormat | None = None
    verbosity: str | None = None


# --- the request --------------------------------------------------------------------


class CreateResponseRequest(SamplingFields, kw_only=True):
    """With every declared sampling parameter (``temperature``, ``top_p``, and the rest
    of ``modelport.core.parameters``)."""

    model: Annotated[str, Meta(min_length=1)]
    input: str | Annotated[list[dict[str, Any]], Meta(min_length=1)]
    instructions: str | None = None
    previous_response_id: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: Annotated[int, Meta(ge=16)] | None = None
    text: TextParam | None = None
    reasoning: ReasoningParam | None = None
    # A stored conversation, by id or as {"id": ...}.
    conversation: Annotated[str, Meta(min_length=1)] | ConversationParam | None = None
    metadata: (
        Annotated[dict[str, Annotated[str, Meta(max_length=512)]], Meta(max_length=16)] | None
    ) = None
    user: str | None = None
    truncation: Literal["auto", "disabled"] | None = None
    store: bool | None = None
    stream: bool | None = None
    stream_options: dict[str, Any] | None = None
    # Known OpenAI fields that a local model cannot honour: refused when set.
    background: bool | None = None
    include: list[str] | None = None
    prompt: dict[str, Any] | None = None
    max_tool_calls: int | None = None
    top_logprobs: int | None = None
    service_tier: str | UnsetType | None = UNSET
    # Accepted and ignored: caching and abuse-tracking hints with no effect on the output.
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
