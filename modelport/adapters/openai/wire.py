"""OpenAI request bodies as msgspec Structs (field names and ranges from OpenAI's spec).

Unknown fields from clients are tolerated; known fields are typed and range-checked, so
a bad value is a 400 whose ``param`` is msgspec's JSON path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from modelport.core.parameters import fields_struct

__all__ = [
    "AssistantMessage",
    "ChatCompletionRequest",
    "CompletionRequest",
    "DeveloperMessage",
    "EmbeddingRequest",
    "FunctionMessage",
    "ImageUrlPart",
    "SystemMessage",
    "TextPart",
    "ToolMessage",
    "UserMessage",
]


class _Wire(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base of wire types: keyword-only; unknown client fields are tolerated."""


# --- content parts (tagged by ``type``) -------------------------------------------


class TextPart(_Wire, kw_only=True, tag="text", tag_field="type"):
    text: str


class ImageUrl(_Wire, kw_only=True):
    url: Annotated[str, Meta(min_length=1)]
    detail: Literal["auto", "low", "high"] = "auto"


class ImageUrlPart(_Wire, kw_only=True, tag="image_url", tag_field="type"):
    image_url: ImageUrl


class InputAudioPart(_Wire, kw_only=True, tag="input_audio", tag_field="type"):
    input_audio: dict[str, Any]


class FilePart(_Wire, kw_only=True, tag="file", tag_field="type"):
    file: dict[str, Any]


class RefusalPart(_Wire, kw_only=True, tag="refusal", tag_field="type"):
    refusal: str


UserPart = TextPart | ImageUrlPart | InputAudioPart | FilePart
AssistantPart = TextPart | RefusalPart

# --- messages (tagged by ``role``) ------------------------------------------------


class SystemMessage(_Wire, kw_only=True, tag="system", tag_field="role"):
    content: str | list[TextPart]
    name: str | UnsetType = UNSET


class DeveloperMessage(_Wire, kw_only=True, tag="developer", tag_field="role"):
    content: str | list[TextPart]
    name: str | UnsetType = UNSET


class UserMessage(_Wire, kw_only=True, tag="user", tag_field="role"):
    content: str | list[UserPart]
    name: str | UnsetType = UNSET


class FunctionCall(_Wire, kw_only=True):
    name: str
    arguments: str


class ToolCall(_Wire, kw_only=True):
    id: str
    function: FunctionCall
    type: Literal["function"] = "function"


class AssistantMessage(_Wire, kw_only=True, tag="assistant", tag_field="role"):
    content: str | list[AssistantPart] | None = None
    refusal: str | None = None
    name: str | UnsetType = UNSET
    tool_calls: list[ToolCall] | UnsetType = UNSET
    function_call: FunctionCall | UnsetType | None = UNSET


class ToolMessage(_Wire, kw_only=True, tag="tool", tag_field="role"):
    content: str | list[TextPart]
    tool_call_id: str


class FunctionMessage(_Wire, kw_only=True, tag="function", tag_field="role"):
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

# --- tools and formats ------------------------------------------------------------


class FunctionDef(_Wire, kw_only=True):
    name: Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    description: str | UnsetType = UNSET
    parameters: dict[str, Any] | UnsetType = UNSET
    strict: bool | None = None


class ToolDef(_Wire, kw_only=True):
    function: FunctionDef
    type: Literal["function"] = "function"


class NamedFunction(_Wire, kw_only=True):
    name: str


class NamedToolChoice(_Wire, kw_only=True):
    function: NamedFunction
    type: Literal["function"] = "function"


class TextFormat(_Wire, kw_only=True, tag="text", tag_field="type"):
    pass


class JsonObjectFormat(_Wire, kw_only=True, tag="json_object", tag_field="type"):
    pass


class JsonSchemaSpec(_Wire, kw_only=True):
    name: Annotated[str, Meta(min_length=1, max_length=64)]
    description: str | UnsetType = UNSET
    schema: dict[str, Any] | UnsetType = UNSET
    strict: bool | None = None


class JsonSchemaFormat(_Wire, kw_only=True, tag="json_schema", tag_field="type"):
    json_schema: JsonSchemaSpec


ResponseFormat = TextFormat | JsonObjectFormat | JsonSchemaFormat


class StreamOptions(_Wire, kw_only=True):
    include_usage: bool = False
    include_obfuscation: bool | UnsetType = UNSET


# --- shared sampling fields -------------------------------------------------------

MaxTokens = Annotated[int, Meta(ge=1)]
Stop = (
    Annotated[str, Meta(max_length=256)]
    | Annotated[list[Annotated[str, Meta(max_length=256)]], Meta(max_length=16)]
)
Bias = dict[str, Annotated[float, Meta(ge=-100, le=100)]]
Choices = Annotated[int, Meta(ge=1, le=128)]


if TYPE_CHECKING:

    class SamplingFields(_Wire, kw_only=True):
        """The declared sampling parameters as wire fields, read as attributes."""

        def __getattr__(self, name: str) -> Any: ...

else:
    # One field per declared sampling parameter (modelport.core.parameters), with its
    # limits: OpenAI's own (temperature, top_p, seed, the penalties) and the extensions
    # vLLM and Ollama accept (top_k, min_p, typical_p, repeat_penalty).
    SamplingFields = fields_struct(
        "SamplingFields", _Wire, limits=True, kw_only=True, omit_defaults=True
    )


class _Sampling(SamplingFields, kw_only=True):
    n: Choices | None = None
    stop: Stop | None = None
    logit_bias: Bias | None = None
    user: str | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None


class ChatCompletionRequest(_Sampling, kw_only=True):
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
    # Known OpenAI fields that a local model cannot honour: refused when set.
    audio: dict[str, Any] | None = None
    modalities: list[str] | None = None
    prediction: dict[str, Any] | None = None
    web_search_options: dict[str, Any] | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: Any = None
    reasoning_effort: str | None = None
    store: bool | None = None
    metadata: dict[str, str] | None = None
    service_tier: str | None = None
    verbosity: str | None = None


class CompletionRequest(_Sampling, kw_only=True):
    model: Annotated[str, Meta(min_length=1)]
    prompt: str | list[Any]
    max_tokens: Annotated[int, Meta(ge=0)] | None = None
    echo: bool | None = None
    suffix: str | None = None
    logprobs: Annotated[int, Meta(ge=0, le=5)] | None = None
    best_of: Annotated[int, Meta(ge=1, le=20)] | None = None


class EmbeddingRequest(_Wire, kw_only=True):
    model: Annotated[str, Meta(min_length=1)]
    input: str | list[Any]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Annotated[int, Meta(ge=1)] | None = None
    user: str | None = None
