"""The request body of chat completions (POST /v1/chat/completions) as msgspec Structs,
names and ranges from OpenAI's spec: unknown fields are tolerated, known ones typed and
range-checked."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, UnsetType

from modelport.core.types import Effort

from ..common import (
    Wire,
)
from ..sampling import (
    MaxTokens,
    SamplingRequest,
)

__all__ = [
    "AssistantMessage",
    "ChatCompletionRequest",
    "DeveloperMessage",
    "FunctionMessage",
    "ImageUrlPart",
    "Message",
    "SystemMessage",
    "TextPart",
    "ToolMessage",
    "UserMessage",
]


class TextPart(Wire, kw_only=True, tag="text", tag_field="type"):
    text: str


class ImageUrl(Wire, kw_only=True):
    url: Annotated[str, Meta(min_length=1)]
    detail: Literal["auto", "low", "high"] = "auto"


class ImageUrlPart(Wire, kw_only=True, tag="image_url", tag_field="type"):
    image_url: ImageUrl


class InputAudioPart(Wire, kw_only=True, tag="input_audio", tag_field="type"):
    input_audio: dict[str, Any]


class FilePart(Wire, kw_only=True, tag="file", tag_field="type"):
    file: dict[str, Any]


class RefusalPart(Wire, kw_only=True, tag="refusal", tag_field="type"):
    refusal: str


UserPart = TextPart | ImageUrlPart | InputAudioPart | FilePart


AssistantPart = TextPart | RefusalPart


class SystemMessage(Wire, kw_only=True, tag="system", tag_field="role"):
    content: str | list[TextPart]
    name: str | UnsetType = UNSET


class DeveloperMessage(Wire, kw_only=True, tag="developer", tag_field="role"):
    content: str | list[TextPart]
    name: str | UnsetType = UNSET


class UserMessage(Wire, kw_only=True, tag="user", tag_field="role"):
    content: str | list[UserPart]
    name: str | UnsetType = UNSET


class FunctionCall(Wire, kw_only=True):
    name: str
    arguments: str


class ToolCall(Wire, kw_only=True):
    id: str
    function: FunctionCall
    type: Literal["function"] = "function"


class AssistantMessage(Wire, kw_only=True, tag="assistant", tag_field="role"):
    content: str | list[AssistantPart] | None = None
    refusal: str | None = None
    name: str | UnsetType = UNSET
    tool_calls: list[ToolCall] | UnsetType = UNSET
    function_call: FunctionCall | UnsetType | None = UNSET
    # An earlier turn's thinking as this server returned it (either name).
    reasoning_content: str | None = None
    reasoning: str | None = None


class ToolMessage(Wire, kw_only=True, tag="tool", tag_field="role"):
    content: str | list[TextPart]
    tool_call_id: str


class FunctionMessage(Wire, kw_only=True, tag="function", tag_field="role"):
    content: str | None
    name: str


Message = (
    SystemMessage
    | DeveloperMessage
    | UserMessage
    | AssistantMessage
    | ToolMessage
    | FunctionMessage
)


class FunctionDef(Wire, kw_only=True):
    name: Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    description: str | UnsetType = UNSET
    parameters: dict[str, Any] | UnsetType = UNSET
    strict: bool | None = None


class ToolDef(Wire, kw_only=True):
    function: FunctionDef
    type: Literal["function"] = "function"


class NamedFunction(Wire, kw_only=True):
    name: str


class NamedToolChoice(Wire, kw_only=True):
    function: NamedFunction
    type: Literal["function"] = "function"


class TextFormat(Wire, kw_only=True, tag="text", tag_field="type"):
    pass


class JsonObjectFormat(Wire, kw_only=True, tag="json_object", tag_field="type"):
    pass


class JsonSchemaSpec(Wire, kw_only=True):
    name: Annotated[str, Meta(min_length=1, max_length=64)]
    description: str | UnsetType = UNSET
    schema: dict[str, Any] | UnsetType = UNSET
    strict: bool | None = None


class JsonSchemaFormat(Wire, kw_only=True, tag="json_schema", tag_field="type"):
    json_schema: JsonSchemaSpec


ResponseFormat = TextFormat | JsonObjectFormat | JsonSchemaFormat


class ChatCompletionRequest(SamplingRequest, kw_only=True):
    model: Annotated[str, Meta(min_length=1)]
    messages: Annotated[list[Message], Meta(min_length=1)]
    max_tokens: MaxTokens | None = None
    max_completion_tokens: MaxTokens | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Meta(ge=0, le=20)] | None = None
    tools: list[ToolDef] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    # How long a reasoning model thinks: an effort (a thinking-token budget set per
    # model), or, as an extension, an exact budget.
    reasoning_effort: Effort | None = None
    reasoning_budget_tokens: Annotated[int, Meta(ge=0)] | None = None
    # Known OpenAI fields that a local model cannot honour: refused when set.
    audio: dict[str, Any] | None = None
    modalities: list[str] | None = None
    prediction: dict[str, Any] | None = None
    web_search_options: dict[str, Any] | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: Any = None
    store: bool | None = None
    metadata: dict[str, str] | None = None
    service_tier: str | None = None
    verbosity: str | None = None
