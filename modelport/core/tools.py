"""Tool calling for every chat backend: the generic tool prompt, the JSON Schema that
constrains a forced call, and the parsers that find calls in free text.

The generic prompt (Hermes style) is used for every model: it works with templates that
know nothing of tools, such as SmolLM2's::

    You can call these functions. ... <tools>{...}</tools>
    To call a function, reply with only:
    <tool_call>{"name": <function name>, "arguments": <arguments object>}</tool_call>

Tool results go back to the model as ``tool`` messages wrapped in ``<tool_response>``.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from .errors import InvalidRequest
from .types import Message, Tool, ToolCall, ToolCallDelta

__all__ = [
    "NO_ARGUMENTS",
    "CallStream",
    "call_schema",
    "check_tool_results",
    "new_call_id",
    "parse_calls",
    "parse_forced",
    "tool_messages",
]


# A function without ``parameters`` takes no arguments (OpenAI's rule): a forced call's
# arguments are ``{}``.
NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


def _tool_prompt(tools: tuple[Tool, ...]) -> str:
    specs = "\n".join(
        json.dumps(
            {
                "name": t.name,
                "description": t.description or "",
                "parameters": t.parameters or NO_ARGUMENTS,
            },
            ensure_ascii=False,
        )
        for t in tools
    )
    return (
        "You can call these functions to help answer. Their JSON Schemas:\n"
        f"<tools>\n{specs}\n</tools>\n"
        "To call a function, reply with only:\n"
        '<tool_call>{"name": <function name>, "arguments": <arguments object>}</tool_call>\n'
        "Otherwise answer normally."
    )


def _call_text(call: ToolCall) -> str:
    try:
        arguments = json.loads(call.arguments)
    except ValueError:
        arguments = call.arguments
    payload = json.dumps({"name": call.name, "arguments": arguments}, ensure_ascii=False)
    return f"<tool_call>{payload}</tool_call>"


def tool_messages(messages: tuple[Message, ...], tools: tuple[Tool, ...]) -> tuple[Message, ...]:
    """The conversation rewritten for the generic tool prompt: the tool list joins the
    system message, earlier calls and their results become text the model can read."""
    out: list[Message] = []
    prompt = _tool_prompt(tools) if tools else ""
    if messages and messages[0].role in ("system", "developer") and prompt:
        out.append(Message(role=messages[0].role, content=f"{messages[0].text()}\n\n{prompt}"))
        messages = messages[1:]
    elif prompt:
        out.append(Message(role="system", content=prompt))
    for msg in messages:
        if msg.role == "assistant" and msg.tool_calls:
            calls = "\n".join(_call_text(c) for c in msg.tool_calls)
            text = f"{msg.text()}\n{calls}".strip()
            out.append(Message(role="assistant", content=text))
        elif msg.role == "tool":
            body = f"<tool_response>\n{msg.text()}\n</tool_response>"
            out.append(Message(role="tool", content=body, tool_call_id=msg.tool_call_id))
        else:
            out.append(msg)
    return tuple(out)


def call_schema(tools: tuple[Tool, ...], *, only: str | None, parallel: bool) -> dict[str, Any]:
    """The JSON Schema of a forced call: ``{"name": ..., "arguments": {...}}`` for one of
    ``tools`` (or the one named ``only``); an array of such calls when ``parallel``."""
    chosen = [t for t in tools if only is None or t.name == only]
    variants = [
        {
            "type": "object",
            "properties": {
                "name": {"const": t.name},
                "arguments": t.parameters or NO_ARGUMENTS,
            },
            "required": ["name", "arguments"],
        }
        for t in chosen
    ]
    one: dict[str, Any] = variants[0] if len(variants) == 1 else {"anyOf": variants}
    if parallel and only is None:
        return {"type": "array", "items": one, "minItems": 1}
    return one


def _as_call(value: Any, names: set[str]) -> ToolCall | None:
    if not isinstance(value, dict) or value.get("name") not in names:
        return None
    arguments = value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if not isinstance(arguments, dict):
        return None
    return ToolCall(
        id=new_call_id(), name=value["name"], arguments=json.dumps(arguments, ensure_ascii=False)
    )


def parse_forced(text: str, tools: tuple[Tool, ...]) -> list[ToolCall]:
    """Calls from constrained output (one call object, or an array of them)."""
    try:
        value = json.loads(text)
    except ValueError:
        return []
    names = {t.name for t in tools}
    items = value if isinstance(value, list) else [value]
    calls = [_as_call(item, names) for item in items]
    return [c for c in calls if c is not None]


_HERMES = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)
_MISTRAL = re.compile(r"\[TOOL_CALLS\]\s*(\[.*\])", re.S)


def parse_calls(text: str, tools: tuple[Tool, ...]) -> tuple[str, list[ToolCall]]:
    """Find calls in free text: Hermes ``<tool_call>`` JSON, Mistral ``[TOOL_CALLS]``,
    or a Llama-3 style bare JSON object. Returns the remaining text and the calls."""
    names = {t.name for t in tools}
    hermes = _HERMES.findall(text)
    if hermes:
        calls = [c for c in (_loads_call(h, names) for h in hermes) if c is not None]
        if calls:
            return _HERMES.sub("", text).strip(), calls
    mistral = _MISTRAL.search(text)
    if mistral:
        calls = parse_forced(mistral.group(1), tools)
        if calls:
            return text[: mistral.start()].strip(), calls
    bare = text.strip().removeprefix("<|python_tag|>").strip()
    if bare.startswith(("{", "[")):
        calls = parse_forced(bare, tools)
        if calls:
            return "", calls
    return text, []


def _loads_call(text: str, names: set[str]) -> ToolCall | None:
    try:
        return _as_call(json.loads(text), names)
    except ValueError:
        return None


TOOL_MARKERS = ("<tool_call>", "[TOOL_CALLS]", "<|python_tag|>", "{", "[")


class CallStream:
    """Forced tool calls streamed as the model writes them.

    Constrained decoding (``call_schema``) guarantees the shape: one call object
    ``{"name": ..., "arguments": {...}}`` or an array of them. This scanner follows the
    JSON as text arrives: a call's first delta (its ``id`` and ``name``) goes out once its
    name is complete, then the raw text of its ``arguments`` object in fragments, as
    generated; the fragments of a call concatenate into its arguments' JSON.
    """

    def __init__(self) -> None:
        self.text = ""
        self.calls = 0  # calls whose first delta went out
        self._stack: list[str] = []  # open containers
        self._in_string = self._escape = False
        self._string = ""  # the string being read (raw, escapes kept)
        self._call_depth = 0  # stack depth inside a call object (1, or 2 in an array)
        self._index = -1
        self._expect_key = False
        self._key: str | None = None
        self._field: str | None = None  # the key whose value comes next
        self._name: str | None = None
        self._args: list[str] = []  # arguments text not yet sent
        self._in_args = False

    def feed(self, chunk: str) -> list[ToolCallDelta]:
        out: list[ToolCallDelta] = []
        self.text += chunk
        for char in chunk:
            self._char(char, out)
        self._flush(out)
        return out

    def _char(self, c: str, out: list[ToolCallDelta]) -> None:
        depth = len(self._stack)
        if self._in_args:
            self._args.append(c)
        if self._in_string:
            if self._escape:
                self._escape = False
            elif c == "\\":
                self._escape = True
            elif c == '"':
                self._in_string = False
                if depth == self._call_depth and not self._in_args:
                    self._string_done(out)
                return
            self._string += c
            return
        if c.isspace():
            return
        at_call = depth == self._call_depth and not self._in_args
        if at_call and self._field == "arguments" and c in "{[":
            self._in_args = True
            self._args.append(c)
        if c == '"':
            self._in_string, self._string = True, ""
        elif c in "{[":
            if not self._stack:
                self._call_depth = 1 if c == "{" else 2
            self._stack.append(c)
            if c == "{" and len(self._stack) == self._call_depth and not self._in_args:
                self._index += 1
                self._expect_key, self._key, self._field, self._name = True, None, None, None
        elif c in "}]":
            if self._stack:
                self._stack.pop()
            if self._in_args and len(self._stack) == self._call_depth:
                self._in_args = False
                self._field = None
                self._flush(out)
        elif at_call and c == ":":
            self._field = self._key
        elif at_call and c == ",":
            self._expect_key, self._field = True, None

    def _string_done(self, out: list[ToolCallDelta]) -> None:
        try:
            value = json.loads('"' + self._string + '"')
        except ValueError:
            value = self._string
        if self._expect_key:
            self._key, self._expect_key = value, False
        elif self._field == "name" and self._name is None:
            self._name = value
            out.append(ToolCallDelta(index=self._index, id=new_call_id(), name=value))
            self.calls = self._index + 1
            self._flush(out)

    def _flush(self, out: list[ToolCallDelta]) -> None:
        if self._args and self._name is not None:
            out.append(ToolCallDelta(index=self._index, arguments="".join(self._args)))
            self._args = []


def check_tool_results(messages: tuple[Message, ...]) -> None:
    """Every call of an assistant message has its ``tool`` message among the ones right
    after it, as OpenAI requires; else a 400 naming the assistant message."""
    for i, msg in enumerate(messages):
        if msg.role != "assistant" or not msg.tool_calls:
            continue
        answered = set()
        for later in messages[i + 1 :]:
            if later.role != "tool":
                break
            answered.add(later.tool_call_id)
        missing = [c.id for c in msg.tool_calls if c.id not in answered]
        if missing:
            raise InvalidRequest(
                "an assistant message with tool_calls must be followed by tool messages "
                "answering each tool_call_id; these have none: " + ", ".join(missing),
                param=f"messages[{i}]",
                code="invalid_value",
            )
