"""Pure functions from ``CreateResponse`` bodies to core ``RespondRequest``s."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from modelport.core import parameters
from modelport.core import types as core
from modelport.core.errors import InvalidRequest, Unsupported
from modelport.core.responses.items import (
    FunctionCallItem,
    FunctionCallOutputItem,
    Item,
    MessageItem,
    ReasoningItem,
    RespondRequest,
)
from modelport.core.responses.over_chat import new_id

from . import wire as w

__all__ = ["input_item", "respond_request"]


def _refuse_unhonoured(req: w.CreateResponseRequest) -> None:
    refused = {
        "background": bool(req.background),
        "include": bool(req.include),
        "reasoning.mode": bool(req.reasoning and req.reasoning.mode is not None),
        # which turns' thinking the model sees is its chat template's choice
        "reasoning.context": bool(req.reasoning and req.reasoning.context not in (None, "auto")),
        "prompt": req.prompt is not None,
        "max_tool_calls": req.max_tool_calls is not None,
        "top_logprobs": bool(req.top_logprobs),
        "service_tier": req.service_tier not in (msgspec.UNSET, None, "auto", "default"),
        "text.verbosity": bool(req.text and req.text.verbosity not in (None, "medium")),
    }
    if req.include and "reasoning.encrypted_content" in req.include:
        raise Unsupported(
            "include 'reasoning.encrypted_content' asks for reasoning sealed for the next "
            "turn; modelport returns a reasoning model's thinking in the clear (the "
            "reasoning item's content) and stores it: give those items back as they are, "
            "or use previous_response_id",
            param="include",
        )
    for param, is_set in refused.items():
        if is_set:
            raise Unsupported(f"'{param}' is not supported by modelport's responses", param=param)
    if req.conversation is not None and req.previous_response_id is not None:
        raise InvalidRequest(
            "conversation and previous_response_id cannot be used together: a "
            "conversation already holds the earlier turns",
            param="conversation",
            code="invalid_value",
        )
    if req.stream_options is not None and not req.stream:
        raise InvalidRequest(
            "stream_options is only allowed when stream is true",
            param="stream_options",
            code="invalid_value",
        )


def _convert(value: Any, type_: type[Any], path: str) -> Any:
    try:
        return msgspec.convert(value, type_)
    except msgspec.ValidationError as exc:
        text, _, where = str(exc).rpartition(" - at `")
        if not text:
            text, where = str(exc), "$`"
        sub = where.rstrip("`").removeprefix("$")
        missing = re.search(r"missing required field `([^`]+)`", text)
        if missing:
            sub = f"{sub}.{missing.group(1)}"
        raise InvalidRequest(f"{text} - at `{path}{sub}`", param=f"{path}{sub}") from None


def _content(parts: str | list[w.ContentIn], path: str) -> tuple[core.ContentPart, ...]:
    if isinstance(parts, str):
        return (core.TextPart(text=parts),)
    out: list[core.ContentPart] = []
    for j, part in enumerate(parts):
        if isinstance(part, w.InputText | w.OutputText):
            out.append(core.TextPart(text=part.text))
        elif isinstance(part, w.Refusal):
            out.append(core.TextPart(text=part.refusal))
        elif isinstance(part, w.InputImage) and part.image_url:
            detail = "high" if part.detail == "original" else part.detail
            out.append(core.ImagePart(url=part.image_url, detail=detail))
        else:
            what = "images by file_id" if isinstance(part, w.InputImage) else type(part).__name__
            raise Unsupported(
                f"content parts of this kind ({what}) are not supported; "
                "send input_text, or input_image with an image_url",
                param=f"{path}[{j}]",
            )
    return tuple(out)


def input_item(raw: dict[str, Any], path: str) -> Item:
    """One input item (``path`` names it in errors: ``input[2]``, ``items[0]``)."""
    kind = raw.get("type", "message")
    type_ = w.ITEM_TYPES.get(kind) if isinstance(kind, str) else None
    if type_ is None:
        raise Unsupported(
            f"input items of type {kind!r} are not supported; use message, function_call, "
            "function_call_output or reasoning",
            param=f"{path}.type",
        )
    item = _convert({**raw, "type": kind}, type_, path)
    if isinstance(item, w.MessageIn):
        return MessageItem(
            id=item.id or new_id("msg"),
            role=item.role,
            content=_content(item.content, f"{path}.content"),
        )
    if isinstance(item, w.FunctionCallIn):
        return FunctionCallItem(
            id=item.id or f"fc_{item.call_id}",
            call_id=item.call_id,
            name=item.name,
            arguments=item.arguments,
        )
    if isinstance(item, w.ReasoningIn):
        if item.encrypted_content:
            raise Unsupported(
                "this reasoning item's encrypted_content was not made here (modelport "
                "returns thinking in the clear); give back the item's content instead",
                param=f"{path}.encrypted_content",
            )
        return ReasoningItem(
            id=item.id or new_id("rs"),
            text="".join(part.text for part in item.content or ()),
            summary=tuple(part.text for part in item.summary),
        )
    output = item.output
    if not isinstance(output, str):
        parts = _content(output, f"{path}.output")
        output = "".join(p.text for p in parts if isinstance(p, core.TextPart))
    return FunctionCallOutputItem(id=item.id or new_id("fco"), call_id=item.call_id, output=output)


def _tools(raw: list[dict[str, Any]] | None) -> tuple[core.Tool, ...]:
    tools: list[core.Tool] = []
    for i, spec in enumerate(raw or []):
        if spec.get("type") != "function":
            raise Unsupported(
                f"tools of type {spec.get('type')!r} are not supported; only function tools",
                param=f"tools[{i}].type",
            )
        tool = _convert(spec, w.FunctionToolIn, f"tools[{i}]")
        tools.append(
            core.Tool(
                name=tool.name,
                description=tool.description,
                parameters=tool.parameters or {},
                strict=tool.strict is not False,
            )
        )
    return tuple(tools)


def _tool_choice(choice: str | dict[str, Any] | None, has_tools: bool) -> core.ToolChoice:
    if choice not in (None, "none") and not has_tools:
        raise InvalidRequest("tool_choice needs tools", param="tool_choice", code="invalid_value")
    if choice is None:
        return core.ToolChoice()
    if isinstance(choice, str):
        return core.ToolChoice(mode=choice)  # type: ignore[arg-type]
    if choice.get("type") != "function":
        raise Unsupported(
            f"tool_choice of type {choice.get('type')!r} is not supported; use 'none', "
            "'auto', 'required' or a function",
            param="tool_choice",
        )
    named = _convert(choice, w.ToolChoiceFunction, "tool_choice")
    return core.ToolChoice(mode="function", function=named.name)


def _text_format(text: w.TextParam | None) -> core.ResponseFormat:
    fmt = text.format if text else None
    if fmt is None or isinstance(fmt, w.TextFormatText):
        return core.ResponseFormat()
    if isinstance(fmt, w.TextFormatJsonObject):
        return core.ResponseFormat(type="json_object")
    return core.ResponseFormat(
        type="json_schema", name=fmt.name, schema=fmt.schema, strict=bool(fmt.strict)
    )


def _input(value: str | list[dict[str, Any]]) -> tuple[Item, ...]:
    if isinstance(value, str):
        return (MessageItem(id=new_id("msg"), role="user", content=(core.TextPart(text=value),)),)
    return tuple(input_item(raw, f"input[{i}]") for i, raw in enumerate(value))


def respond_request(req: w.CreateResponseRequest) -> RespondRequest:
    _refuse_unhonoured(req)
    tools = _tools(req.tools)
    return RespondRequest(
        model=req.model,
        input=_input(req.input),
        instructions=req.instructions,
        previous_response_id=req.previous_response_id,
        sampling=core.Sampling(**parameters.values(req), max_tokens=req.max_output_tokens),
        tools=tools,
        tool_choice=_tool_choice(req.tool_choice, bool(tools)),
        parallel_tool_calls=req.parallel_tool_calls is not False,
        text_format=_text_format(req.text),
        metadata=req.metadata or {},
        user=req.user,
        truncation=req.truncation or "disabled",
        store=req.store is not False,
        conversation=(
            req.conversation if isinstance(req.conversation, str | None) else req.conversation.id
        ),
        reasoning_effort=req.reasoning.effort if req.reasoning else None,
        reasoning_summary=(
            (req.reasoning.summary or req.reasoning.generate_summary) if req.reasoning else None
        ),
    )
