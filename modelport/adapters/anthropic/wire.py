"""Anthropic's request types, strict: a field this server does not know is a 400
naming it (Anthropic's own API refuses unknown fields too)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "Block",
    "CountTokensRequest",
    "MessageParam",
    "MessagesRequest",
    "TextBlock",
    "Tool",
]


class Strict(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """Base of request types: keyword-only, unknown fields refused by name."""


class CacheControl(Strict, kw_only=True):
    """A prompt-caching breakpoint. The server caches every prompt's prefix on its own
    (a request that starts like an earlier one reuses its evaluation), so a breakpoint
    asks for what already happens."""

    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] | None = None


class TextBlock(Strict, kw_only=True, tag="text", tag_field="type"):
    text: str
    cache_control: CacheControl | None = None


class Base64Source(Strict, kw_only=True, tag="base64", tag_field="type"):
    media_type: str
    data: str


class UrlSource(Strict, kw_only=True, tag="url", tag_field="type"):
    url: str


class ImageBlock(Strict, kw_only=True, tag="image", tag_field="type"):
    source: Base64Source | UrlSource
    cache_control: CacheControl | None = None


class PlainTextSource(Strict, kw_only=True, tag="text", tag_field="type"):
    media_type: Literal["text/plain"] = "text/plain"
    data: str


class ContentSource(Strict, kw_only=True, tag="content", tag_field="type"):
    content: str | list[TextBlock]


class DocumentBlock(Strict, kw_only=True, tag="document", tag_field="type"):
    """A document, read as text: a plain-text source or text blocks (a PDF's base64 or
    URL source is refused by name: nothing here reads PDFs)."""

    source: PlainTextSource | ContentSource | Base64Source | UrlSource
    title: str | None = None
    context: str | None = None
    cache_control: CacheControl | None = None


class ToolUseBlock(Strict, kw_only=True, tag="tool_use", tag_field="type"):
    id: str
    name: str
    input: dict[str, Any]
    cache_control: CacheControl | None = None


class ToolResultBlock(Strict, kw_only=True, tag="tool_result", tag_field="type"):
    tool_use_id: str
    content: str | list[TextBlock | ImageBlock] = ""
    is_error: bool = False
    cache_control: CacheControl | None = None


class ThinkingBlock(Strict, kw_only=True, tag="thinking", tag_field="type"):
    thinking: str
    signature: str = ""


class RedactedThinkingBlock(Strict, kw_only=True, tag="redacted_thinking", tag_field="type"):
    data: str


Block = (
    TextBlock
    | ImageBlock
    | DocumentBlock
    | ToolUseBlock
    | ToolResultBlock
    | ThinkingBlock
    | RedactedThinkingBlock
)


class MessageParam(Strict, kw_only=True):
    role: Literal["user", "assistant"]
    content: str | list[Block]


class Tool(Strict, kw_only=True):
    """A client tool (server tools such as web search are not served)."""

    name: Annotated[str, Meta(min_length=1, max_length=128)]
    input_schema: dict[str, Any]
    description: str = ""
    type: Literal["custom"] | None = None
    cache_control: CacheControl | None = None


class ToolChoiceAuto(Strict, kw_only=True, tag="auto", tag_field="type"):
    disable_parallel_tool_use: bool = False


class ToolChoiceAny(Strict, kw_only=True, tag="any", tag_field="type"):
    disable_parallel_tool_use: bool = False


class ToolChoiceTool(Strict, kw_only=True, tag="tool", tag_field="type"):
    name: str
    disable_parallel_tool_use: bool = False


class ToolChoiceNone(Strict, kw_only=True, tag="none", tag_field="type"):
    pass


ToolChoice = ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone


class ThinkingEnabled(Strict, kw_only=True, tag="enabled", tag_field="type"):
    """Thinking within ``budget_tokens`` (a local model takes any budget from 1)."""

    budget_tokens: Annotated[int, Meta(ge=1)]
    # "omitted": thinking blocks come without their text.
    display: Literal["summarized", "omitted"] | None = None


class ThinkingAdaptive(Strict, kw_only=True, tag="adaptive", tag_field="type"):
    """Thinking as the model's configuration says (its default effort)."""

    display: Literal["summarized", "omitted"] | None = None


class ThinkingDisabled(Strict, kw_only=True, tag="disabled", tag_field="type"):
    pass


Thinking = ThinkingEnabled | ThinkingAdaptive | ThinkingDisabled


class JsonOutputFormat(Strict, kw_only=True, tag="json_schema", tag_field="type"):
    schema: dict[str, Any]


class OutputConfig(Strict, kw_only=True):
    """How much a reasoning model thinks (its ``[models.reasoning.budgets]``), and a
    JSON schema the answer must follow."""

    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None
    format: JsonOutputFormat | None = None


class Metadata(Strict, kw_only=True):
    user_id: str | None = None


class CountTokensRequest(Strict, kw_only=True):
    model: str
    messages: list[MessageParam]
    system: str | list[TextBlock] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: Thinking | None = None
    output_config: OutputConfig | None = None
    # Caching is automatic here: every prompt's prefix is kept for the next request.
    cache_control: CacheControl | None = None


class MessagesRequest(CountTokensRequest, kw_only=True):
    max_tokens: Annotated[int, Meta(ge=1)]
    stop_sequences: list[str] | None = None
    # Sampling, as older versions of the API (and their clients) send it.
    temperature: Annotated[float, Meta(ge=0, le=1)] | None = None
    top_p: Annotated[float, Meta(ge=0, le=1)] | None = None
    top_k: Annotated[int, Meta(ge=1)] | None = None
    stream: bool = False
    metadata: Metadata | None = None
