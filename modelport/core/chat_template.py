"""Chat templates: the Jinja2 templates shipped in model files (GGUF metadata,
tokenizer_config.json), rendered the way Hugging Face transformers renders them."""

from __future__ import annotations

import datetime
import json
from functools import lru_cache
from typing import Any

import jinja2
import jinja2.sandbox
import msgspec

from .config import ReasoningConfig
from .errors import ConfigError, InvalidRequest
from .types import ImageData, ImagePart, Message, TextPart, Tool

__all__ = ["CHATML", "ChatTemplate"]

# Used when a model ships no template: the ChatML format.
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


# The thinking markers of Qwen3's, DeepSeek-R1's and SmolLM3's templates, and the
# variable with which Qwen3's and SmolLM3's switch thinking off.
THINK_MARKERS = ("<think>", "</think>")
SWITCH = "enable_thinking"


class _TemplateError(Exception):
    pass


def _raise(message: str) -> None:
    raise _TemplateError(message)


def _tojson(value: Any, indent: int | None = None, **_: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _strftime_now(fmt: str) -> str:
    return datetime.datetime.now().strftime(fmt)


@lru_cache(maxsize=32)
def _compile(source: str) -> jinja2.Template:
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = _strftime_now
    return env.from_string(source)


def _message_dict(msg: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": msg.role, "content": msg.text()}
    if isinstance(msg.content, tuple) and any(
        isinstance(p, ImagePart | ImageData) for p in msg.content
    ):
        out["content"] = [
            {"type": "text", "text": p.text} if isinstance(p, TextPart) else {"type": "image"}
            for p in msg.content
        ]
    if msg.name:
        out["name"] = msg.name
    if msg.tool_calls:
        out["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": _arguments(c.arguments)},
            }
            for c in msg.tool_calls
        ]
    if msg.tool_call_id:
        out["tool_call_id"] = msg.tool_call_id
    if msg.reasoning:
        out["reasoning_content"] = msg.reasoning
    return out


def _arguments(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


class ChatTemplate:
    """A compiled chat template with the model's special tokens."""

    def __init__(self, source: str | None, *, bos_token: str = "", eos_token: str = ""):
        self.source = source or CHATML
        self.bos_token = bos_token
        self.eos_token = eos_token
        try:
            self._template = _compile(self.source)
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(f"chat template does not compile: {exc}") from None

    @property
    def supports_tools(self) -> bool:
        return "tools" in self.source

    def reasoning(self) -> ReasoningConfig | None:
        """How a reasoning model's template marks its thinking, when it shows the
        ``<think>``/``</think>`` markers (Qwen3's, DeepSeek-R1's and SmolLM3's do):
        whether the template opens the block itself (the generation prompt ends with the
        start marker) and the variable that switches thinking off (``enable_thinking``).
        None for a template without them."""
        start, end = THINK_MARKERS
        if start not in self.source or end not in self.source:
            return None
        try:
            prompt = self.render((Message(role="user", content="Hi"),))
        except InvalidRequest:
            prompt = ""
        return ReasoningConfig(
            start=start,
            end=end,
            opened_by_template=prompt.rstrip().endswith(start),
            switch=SWITCH if SWITCH in self.source else None,
        )

    def render(
        self,
        messages: tuple[Message, ...],
        *,
        tools: tuple[Tool, ...] = (),
        add_generation_prompt: bool = True,
        variables: dict[str, Any] | None = None,
    ) -> str:
        """The prompt; ``variables`` are extra template variables (``enable_thinking``)."""
        context: dict[str, Any] = {
            **(variables or {}),
            "messages": [_message_dict(m) for m in messages],
            "add_generation_prompt": add_generation_prompt,
            "bos_token": self.bos_token,
            "eos_token": self.eos_token,
        }
        if tools:
            context["tools"] = [
                {"type": "function", "function": msgspec.to_builtins(t)} for t in tools
            ]
        try:
            return self._template.render(**context)
        except (_TemplateError, jinja2.TemplateError) as exc:
            raise InvalidRequest(
                f"the model's chat template refused the messages: {exc}", param="messages"
            ) from None
