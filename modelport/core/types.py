"""Core request, event and result types: what adapters hand to backends and get back.

Every type here is a frozen, keyword-only msgspec Struct: values, not objects with
behaviour, cheap to build and safe to share between the event loop and worker threads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import msgspec

from .parameters import fields_struct

__all__ = [
    "ChatEvent",
    "ChatRequest",
    "CompletionEvent",
    "CompletionRequest",
    "Constraint",
    "ContentPart",
    "Effort",
    "EmbedRequest",
    "EmbedResult",
    "Finish",
    "FinishReason",
    "ImagePart",
    "Message",
    "ReasoningDelta",
    "ResponseFormat",
    "Role",
    "Sampling",
    "Started",
    "TextDelta",
    "TextPart",
    "Thinking",
    "TokenLogprob",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoice",
    "TopLogprob",
    "Usage",
]


class _Value(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Base of core types: immutable (shared across threads) and keyword-only (readable
    construction, and new fields with defaults never break positional callers)."""


# --- messages ---------------------------------------------------------------------


class TextPart(_Value, frozen=True, kw_only=True, tag="text", tag_field="type"):
    text: str


class ImagePart(_Value, frozen=True, kw_only=True, tag="image_url", tag_field="type"):
    """An image given by URL (https or data URI); fetched by core, never by a backend."""

    url: str
    detail: Literal["auto", "low", "high"] = "auto"


class ImageData(_Value, frozen=True, kw_only=True, tag="image_data", tag_field="type"):
    """An image as a backend receives it: core fetched (or decoded) the ``ImagePart``'s
    URL and checked that the bytes are a PNG, JPEG, WebP or GIF of ``media_type``."""

    data: bytes
    media_type: str
    detail: Literal["auto", "low", "high"] = "auto"


ContentPart = TextPart | ImagePart | ImageData
Role = Literal["system", "developer", "user", "assistant", "tool"]


class ToolCall(_Value, frozen=True, kw_only=True):
    id: str
    name: str
    arguments: str


class Message(_Value, frozen=True, kw_only=True):
    role: Role
    content: str | tuple[ContentPart, ...] | None = None
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    # An earlier assistant turn's thinking, given back by the client: the chat template
    # sees it as ``reasoning_content`` and keeps or drops it, as the model expects.
    reasoning: str | None = None

    def text(self) -> str:
        """The message's text: the string, or its text parts joined."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart))


class Tool(_Value, frozen=True, kw_only=True):
    """A function the model may call; ``parameters`` is a JSON Schema object."""

    name: str
    description: str | None = None
    parameters: dict[str, object] = msgspec.field(default_factory=dict)
    strict: bool = False


class ToolChoice(_Value, frozen=True, kw_only=True):
    mode: Literal["none", "auto", "required", "function"] = "auto"
    function: str | None = None


class ResponseFormat(_Value, frozen=True, kw_only=True):
    type: Literal["text", "json_object", "json_schema"] = "text"
    name: str | None = None
    schema: dict[str, object] | None = None
    strict: bool = False


# --- sampling ---------------------------------------------------------------------


if TYPE_CHECKING:

    class _DeclaredSampling(_Value, frozen=True, kw_only=True):
        """The declared parameters (``modelport.core.parameters.SAMPLING``), read as
        attributes: ``sampling.top_k``."""

        def __getattr__(self, name: str) -> Any: ...

else:
    _DeclaredSampling = fields_struct(
        "_DeclaredSampling", _Value, limits=False, frozen=True, kw_only=True
    )


class Sampling(_DeclaredSampling, frozen=True, kw_only=True):
    """Sampling parameters. ``None`` means "not given": the model's defaults from
    plugins.toml fill it, then the backend's own default.

    Besides the fields below, it has one field per declared sampling parameter
    (``temperature``, ``top_p``, ``seed``, ``top_k``, ... : see ``parameters``); build
    one with keywords as usual: ``Sampling(temperature=0.5, max_tokens=16)``."""

    if TYPE_CHECKING:  # every declared parameter is a keyword too

        def __init__(self, **fields: Any) -> None: ...

    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    logit_bias: dict[int, float] | None = None
    logprobs: bool = False
    top_logprobs: int | None = None
    n: int = 1

    def with_defaults(self, defaults: Sampling) -> Sampling:
        """Fill every field not given here from ``defaults`` (request wins)."""
        changes: dict[str, object] = {}
        for field in self.__struct_fields__:
            mine = getattr(self, field)
            theirs = getattr(defaults, field)
            if (mine is None or mine == ()) and theirs not in (None, ()):
                changes[field] = theirs
        return msgspec.structs.replace(self, **changes) if changes else self


# --- requests ---------------------------------------------------------------------


class Constraint(_Value, frozen=True, kw_only=True):
    """Output the backend must enforce while decoding (a grammar): JSON matching
    ``schema``, or any JSON object when ``schema`` is None. Set by core, not by clients."""

    schema: dict[str, object] | None = None


# How long a reasoning model may think (``reasoning_effort``): ``none`` switches thinking
# off, the others are thinking-token budgets set per model (``[models.reasoning.budgets]``).
Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


class Thinking(_Value, frozen=True, kw_only=True):
    """A reasoning model's thinking in one request, for a backend that declares
    ``Feature.REASONING`` (core fills it in from ``[models.reasoning]`` and the request).

    The thinking is written between ``start`` and ``end`` (``opened``: the chat template
    writes ``start`` itself, so the output begins inside the block). Once ``budget``
    thinking tokens are spent and the block is still open, the backend generates the
    ``end`` marker itself (its tokens forced as the next ones) and the answer follows;
    ``budget`` 0 closes the block at once, None sets no limit. ``enabled`` False is
    reasoning effort ``none``: the template variable ``switch`` (Qwen3's
    ``enable_thinking``) is set to false when the template has one, and the budget is 0
    either way. A grammar (``constraint``) binds the answer only: it starts after ``end``.
    """

    start: str
    end: str
    opened: bool = False
    budget: int | None = None
    enabled: bool = True
    switch: str | None = None

    @property
    def limit(self) -> int | None:
        """Thinking tokens before the block is closed (None: no limit)."""
        return self.budget if self.enabled else 0


class ChatRequest(_Value, frozen=True, kw_only=True):
    model: str
    messages: tuple[Message, ...]
    sampling: Sampling = Sampling()
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice = ToolChoice()
    parallel_tool_calls: bool = True
    response_format: ResponseFormat = ResponseFormat()
    user: str | None = None
    constraint: Constraint | None = None
    # What the client asked of a reasoning model: an effort, or an exact budget of
    # thinking tokens (the ``reasoning_budget_tokens`` extension); core turns them into
    # ``thinking`` for the backend.
    reasoning_effort: Effort | None = None
    reasoning_budget: int | None = None
    thinking: Thinking | None = None


class CompletionRequest(_Value, frozen=True, kw_only=True):
    model: str
    prompt: str | tuple[int, ...]
    sampling: Sampling = Sampling()
    echo: bool = False
    suffix: str | None = None
    best_of: int | None = None
    user: str | None = None
    # Where the prompt is in the client's request (``prompt[2]`` in a batch), for errors.
    prompt_param: str = "prompt"


class EmbedRequest(_Value, frozen=True, kw_only=True):
    model: str
    # Strings, or token arrays of the model's own tokenizer (one kind per request).
    inputs: tuple[str | tuple[int, ...], ...]
    dimensions: int | None = None
    user: str | None = None


class EmbedResult(_Value, frozen=True, kw_only=True):
    vectors: list[list[float]]
    prompt_tokens: int
    # Tokens of each input, when the backend knows them: core's batcher uses them to give
    # every request of a batch its exact usage (else it shares ``prompt_tokens`` out).
    input_tokens: list[int] | None = None


# --- generation events ------------------------------------------------------------


class Usage(_Value, frozen=True, kw_only=True):
    """Tokens of one generation; ``cached_tokens``: prompt tokens the backend took from
    its cache instead of evaluating them (OpenAI's ``prompt_tokens_details``)."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    # Of the completion tokens, those the model spent thinking (see ``reasoning``).
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


class TopLogprob(_Value, frozen=True, kw_only=True):
    token: str
    logprob: float
    bytes: tuple[int, ...] | None = None


class TokenLogprob(_Value, frozen=True, kw_only=True):
    """The log-probability of one generated token and of the most likely alternatives."""

    token: str
    logprob: float
    bytes: tuple[int, ...] | None = None
    top: tuple[TopLogprob, ...] = ()


class Started(_Value, frozen=True, kw_only=True, tag="started", tag_field="kind"):
    """First event of every generation: the prompt was accepted and evaluated."""

    prompt_tokens: int


class TextDelta(_Value, frozen=True, kw_only=True, tag="text", tag_field="kind"):
    """Generated text; ``tokens`` is how many generated tokens it covers (0 when the
    text is held back from earlier tokens, e.g. an incomplete UTF-8 sequence)."""

    text: str
    tokens: int = 1
    logprobs: tuple[TokenLogprob, ...] = ()


class ReasoningDelta(_Value, frozen=True, kw_only=True, tag="reasoning", tag_field="kind"):
    """The model's thinking, kept apart from the answer (core parses it out of the text
    of a model configured with ``[models.reasoning]``); ``tokens`` as for ``TextDelta``."""

    text: str
    tokens: int = 0


class ToolCallDelta(_Value, frozen=True, kw_only=True, tag="tool_call", tag_field="kind"):
    """Part of a tool call: the first delta of call ``index`` has its ``id`` and ``name``;
    ``arguments`` fragments concatenate into the call's JSON arguments."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class Finish(_Value, frozen=True, kw_only=True, tag="finish", tag_field="kind"):
    """Last event of every generation, exactly once."""

    reason: FinishReason
    usage: Usage
    # The stop sequence that ended it (reason "stop"), when one did.
    stop_sequence: str | None = None


ChatEvent = Started | TextDelta | ReasoningDelta | ToolCallDelta | Finish
CompletionEvent = Started | TextDelta | Finish
