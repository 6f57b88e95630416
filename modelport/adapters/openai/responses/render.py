"""Core responses and events → Responses API objects and server-sent events."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from modelport.core import types as core
from modelport.core.records import page
from modelport.core.responses.items import (
    FunctionCallItem,
    Item,
    MessageItem,
    ReasoningItem,
    ResponseCreated,
    ResponseDone,
    ResponseEvent,
    StoredResponse,
)

from ..errors import error_body
from . import objects as o

__all__ = ["item_list", "item_out", "response_object", "stream_events"]

_encoder = msgspec.json.Encoder()


def _part(part: core.ContentPart, role: str) -> o.OutputTextOut | o.InputTextOut | o.InputImageOut:
    if isinstance(part, core.ImagePart):
        return o.InputImageOut(image_url=part.url, detail=part.detail)
    if isinstance(part, core.ImageData):  # (fetched images are not stored; shown as data)
        data = base64.b64encode(part.data).decode()
        return o.InputImageOut(
            image_url=f"data:{part.media_type};base64,{data}", detail=part.detail
        )
    if role == "assistant":
        return o.OutputTextOut(text=part.text)
    return o.InputTextOut(text=part.text)


def item_out(item: Item) -> o.ItemOut:
    if isinstance(item, MessageItem):
        content = [_part(p, item.role) for p in item.content]
        return o.MessageOut(id=item.id, role=item.role, content=content, status=item.status)
    if isinstance(item, ReasoningItem):
        return _reasoning_out(item.id, item.text, item.summary, item.status)
    if isinstance(item, FunctionCallItem):
        return o.FunctionCallOut(
            id=item.id,
            call_id=item.call_id,
            name=item.name,
            arguments=item.arguments,
            status=item.status,
        )
    return o.FunctionCallOutputOut(
        id=item.id, call_id=item.call_id, output=item.output, status=item.status
    )


def _reasoning_out(id: str, text: str, summary: tuple[str, ...], status: str) -> o.ReasoningOut:
    return o.ReasoningOut(
        id=id,
        summary=[o.SummaryTextOut(text=t) for t in summary],
        content=[o.ReasoningTextOut(text=text)] if text else [],
        status=status,
    )


def _text(fmt: core.ResponseFormat) -> dict[str, Any]:
    if fmt.type == "json_schema":
        spec = {"type": "json_schema", "name": fmt.name, "schema": fmt.schema, "strict": fmt.strict}
        return {"format": spec}
    return {"format": {"type": fmt.type}}


def _tool_choice(choice: core.ToolChoice) -> str | dict[str, Any]:
    if choice.mode == "function":
        return {"type": "function", "name": choice.function}
    return choice.mode


def _tool(tool: core.Tool) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "function", "name": tool.name}
    if tool.description is not None:
        out["description"] = tool.description
    out["parameters"] = tool.parameters
    out["strict"] = tool.strict
    return out


def response_object(response: StoredResponse, model: str | None = None) -> o.ResponseObject:
    req = response.request
    usage = response.usage
    return o.ResponseObject(
        id=response.id,
        created_at=response.created_at,
        status=response.status,
        completed_at=response.completed_at,
        incomplete_details=(
            o.IncompleteDetails(reason=response.incomplete_reason)
            if response.incomplete_reason
            else None
        ),
        instructions=req.instructions,
        max_output_tokens=req.sampling.max_tokens,
        model=model or req.model,
        output=[item_out(i) for i in response.output],
        parallel_tool_calls=req.parallel_tool_calls,
        previous_response_id=req.previous_response_id,
        conversation=o.ConversationRef(id=req.conversation) if req.conversation else None,
        reasoning=(
            o.ReasoningEcho(effort=req.reasoning_effort, summary=req.reasoning_summary)
            if req.reasoning_effort or req.reasoning_summary
            else None
        ),
        store=req.store,
        temperature=req.sampling.temperature,
        text=_text(req.text_format),
        tool_choice=_tool_choice(req.tool_choice),
        tools=[_tool(t) for t in req.tools],
        top_p=req.sampling.top_p,
        truncation=req.truncation,
        usage=(
            o.ResponseUsageOut(
                input_tokens=usage.prompt_tokens,
                input_tokens_details=o.InputTokensDetails(cached_tokens=usage.cached_tokens),
                output_tokens=usage.completion_tokens,
                output_tokens_details=o.OutputTokensDetails(
                    reasoning_tokens=usage.reasoning_tokens
                ),
                total_tokens=usage.total_tokens,
            )
            if usage
            else msgspec.UNSET
        ),
        user=req.user if req.user is not None else msgspec.UNSET,
        metadata=req.metadata,
    )


def item_list(
    items: tuple[Item, ...], *, limit: int, order: str, after: str | None
) -> o.ResponseItemList:
    """One page of ``items`` (oldest first with ``asc``) as a list object."""
    ordered = list(items) if order == "asc" else list(reversed(items))
    shown, more = page(ordered, after=after, limit=limit, id_of=lambda i: i.id)
    data = [item_out(i) for i in shown]
    return o.ResponseItemList(
        data=data,
        has_more=more,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
    )


def _sse(event: o._Event) -> bytes:
    return b"event: " + event.type.encode() + b"\ndata: " + _encoder.encode(event) + b"\n\n"


class _StreamState:
    """Which output item is open while events stream, and the sequence numbers."""

    def __init__(self) -> None:
        self.sequence = 0
        self.index = -1
        self.message_id = ""
        self.reasoning_id = ""
        self.summary = False  # the request asked for a reasoning summary
        self.answered = False  # a message or a call was opened
        self.text: list[str] = []
        self.call: list[str] | None = None  # [item id, call id, name, arguments]
        self.open: str | None = None  # "reasoning" | "message" | "call"

    def frame(self, event: o._Event) -> bytes:
        event.sequence_number = self.sequence
        self.sequence += 1
        return _sse(event)

    def open_reasoning(self) -> list[bytes]:
        """A reasoning item, with its reasoning text part (and summary part)."""
        self.index += 1
        self.open, self.text = "reasoning", []
        item = _reasoning_out(self.reasoning_id, "", (), "in_progress")
        frames = [
            self.frame(
                o.OutputItemEvent(
                    type="response.output_item.added", output_index=self.index, item=item
                )
            ),
            self.frame(
                o.ContentPartEvent(
                    type="response.content_part.added",
                    part=o.ReasoningTextOut(text=""),
                    item_id=self.reasoning_id,
                    output_index=self.index,
                )
            ),
        ]
        if self.summary:
            part = o.SummaryTextOut(text="")
            added = "response.reasoning_summary_part.added"
            frames.append(
                self.frame(
                    o.SummaryPartEvent(
                        type=added, part=part, item_id=self.reasoning_id, output_index=self.index
                    )
                )
            )
        return frames

    def reasoning_delta(self, text: str) -> list[bytes]:
        self.text.append(text)
        kind = "response.reasoning_text.delta"
        frames = [
            self.frame(
                o.ReasoningTextEvent(
                    type=kind, delta=text, item_id=self.reasoning_id, output_index=self.index
                )
            )
        ]
        if self.summary:
            kind = "response.reasoning_summary_text.delta"
            frames.append(
                self.frame(
                    o.SummaryTextEvent(
                        type=kind, delta=text, item_id=self.reasoning_id, output_index=self.index
                    )
                )
            )
        return frames

    def _close_reasoning(self, status: str) -> list[bytes]:
        text = "".join(self.text)
        frames = [
            self.frame(
                o.ReasoningTextEvent(
                    type="response.reasoning_text.done",
                    text=text,
                    item_id=self.reasoning_id,
                    output_index=self.index,
                )
            ),
            self.frame(
                o.ContentPartEvent(
                    type="response.content_part.done",
                    part=o.ReasoningTextOut(text=text),
                    item_id=self.reasoning_id,
                    output_index=self.index,
                )
            ),
        ]
        if self.summary:
            done = "response.reasoning_summary_text.done"
            frames.append(
                self.frame(
                    o.SummaryTextEvent(
                        type=done, text=text, item_id=self.reasoning_id, output_index=self.index
                    )
                )
            )
            part = o.SummaryTextOut(text=text)
            done = "response.reasoning_summary_part.done"
            frames.append(
                self.frame(
                    o.SummaryPartEvent(
                        type=done, part=part, item_id=self.reasoning_id, output_index=self.index
                    )
                )
            )
        summary = (text,) if self.summary else ()
        item = _reasoning_out(self.reasoning_id, text, summary, status)
        frames.append(
            self.frame(
                o.OutputItemEvent(
                    type="response.output_item.done", output_index=self.index, item=item
                )
            )
        )
        return frames

    def open_message(self) -> list[bytes]:
        self.index += 1
        self.open, self.text, self.answered = "message", [], True
        item = o.MessageOut(id=self.message_id, role="assistant", content=[], status="in_progress")
        part = o.OutputTextOut(text="")
        return [
            self.frame(
                o.OutputItemEvent(
                    type="response.output_item.added", output_index=self.index, item=item
                )
            ),
            self.frame(
                o.ContentPartEvent(
                    type="response.content_part.added",
                    item_id=self.message_id,
                    output_index=self.index,
                    part=part,
                )
            ),
        ]

    def close(self, status: str) -> list[bytes]:
        frames: list[bytes] = []
        if self.open == "reasoning":
            frames = self._close_reasoning(status)
        elif self.open == "message":
            text = "".join(self.text)
            part = o.OutputTextOut(text=text)
            item = o.MessageOut(id=self.message_id, role="assistant", content=[part], status=status)
            frames.append(
                self.frame(
                    o.TextDoneEvent(item_id=self.message_id, output_index=self.index, text=text)
                )
            )
            frames.append(
                self.frame(
                    o.ContentPartEvent(
                        type="response.content_part.done",
                        item_id=self.message_id,
                        output_index=self.index,
                        part=part,
                    )
                )
            )
            frames.append(
                self.frame(
                    o.OutputItemEvent(
                        type="response.output_item.done", output_index=self.index, item=item
                    )
                )
            )
        elif self.open == "call" and self.call is not None:
            item_id, call_id, name, args = self.call
            frames.append(
                self.frame(
                    o.FunctionCallArgumentsDone(
                        item_id=item_id, name=name, output_index=self.index, arguments=args
                    )
                )
            )
            call = o.FunctionCallOut(
                id=item_id, call_id=call_id, name=name, arguments=args, status="completed"
            )
            frames.append(
                self.frame(
                    o.OutputItemEvent(
                        type="response.output_item.done", output_index=self.index, item=call
                    )
                )
            )
        self.open = None
        return frames

    def open_call(self, delta: core.ToolCallDelta) -> list[bytes]:
        frames = self.close("completed")
        self.index += 1
        call_id = delta.id or ""
        self.call = [f"fc_{call_id}", call_id, delta.name or "", ""]
        self.open, self.answered = "call", True
        item = o.FunctionCallOut(
            id=self.call[0], call_id=call_id, name=self.call[2], arguments="", status="in_progress"
        )
        frames.append(
            self.frame(
                o.OutputItemEvent(
                    type="response.output_item.added", output_index=self.index, item=item
                )
            )
        )
        return frames


async def stream_events(events: AsyncIterator[ResponseEvent], model: str) -> AsyncIterator[bytes]:
    """The spec's event sequence for one streamed response; a failure after the first
    event is one ``error`` event."""
    state = _StreamState()
    try:
        async for event in events:
            for frame in _frames(state, event, model):
                yield frame
    except Exception as exc:  # noqa: BLE001 - reported to the client in-band, and logged
        _, body, _ = error_body(exc)
        yield state.frame(
            o.StreamErrorEvent(code=body.code, message=body.message, param=body.param)
        )
    finally:
        await events.aclose()  # type: ignore[attr-defined]


def _frames(state: _StreamState, event: ResponseEvent, model: str) -> list[bytes]:
    if isinstance(event, ResponseCreated):
        state.message_id, state.reasoning_id = event.message_id, event.reasoning_id
        state.summary = event.response.request.reasoning_summary is not None
        obj = response_object(event.response, model)
        return [
            state.frame(o.ResponseLifecycleEvent(type="response.created", response=obj)),
            state.frame(o.ResponseLifecycleEvent(type="response.in_progress", response=obj)),
        ]
    if isinstance(event, core.ReasoningDelta):
        if not event.text:
            return []
        frames = [] if state.open == "reasoning" else state.open_reasoning()
        return frames + state.reasoning_delta(event.text)
    if isinstance(event, core.TextDelta):
        if not event.text:
            return []
        frames = [] if state.open == "message" else state.close("completed") + state.open_message()
        state.text.append(event.text)
        frames.append(
            state.frame(
                o.TextDeltaEvent(
                    item_id=state.message_id, output_index=state.index, delta=event.text
                )
            )
        )
        return frames
    if isinstance(event, core.ToolCallDelta):
        frames = state.open_call(event) if event.id is not None else []
        if event.arguments and state.call is not None:
            state.call[3] += event.arguments
            frames.append(
                state.frame(
                    o.FunctionCallArgumentsDelta(
                        item_id=state.call[0], output_index=state.index, delta=event.arguments
                    )
                )
            )
        return frames
    assert isinstance(event, ResponseDone)
    response = event.response
    item_status = "incomplete" if response.status == "incomplete" else "completed"
    frames = [] if state.answered else state.close(item_status) + state.open_message()
    frames += state.close(item_status)
    kind = "response.incomplete" if response.status == "incomplete" else "response.completed"
    obj = response_object(response, model)
    frames.append(state.frame(o.ResponseLifecycleEvent(type=kind, response=obj)))
    return frames


def encode(obj: object) -> bytes:
    return _encoder.encode(obj)
