"""What every OpenAI endpoint family shares: the request type its handlers take, decoding
bodies, token-or-text inputs, the bases of wire and response objects, usage, and the
Server-Sent Events framing."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from litestar import Request, Response
from litestar.response import Stream
from msgspec import UNSET, UnsetType

from modelport.core.config import Config
from modelport.core.errors import InvalidRequest
from modelport.core.generation import Collected
from modelport.core.manager import ModelEntry
from modelport.core.records import RecordStore, open_records
from modelport.core.service import ModelService

from .errors import envelope, error_body

__all__ = [
    "DONE",
    "JSON",
    "SSE_HEADERS",
    "HttpRequest",
    "Meta",
    "Out",
    "PromptTokensDetails",
    "UsageOut",
    "Wire",
    "decode",
    "frame",
    "meta_for",
    "prepend",
    "prompts",
    "service_of",
    "sse",
    "stream_of",
    "total_usage",
    "usage_out",
]


T = TypeVar("T")

# Litestar's Request with its user, auth and state parameters left open.
HttpRequest = Request[Any, Any, Any]
JSON = "application/json"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_encoder = msgspec.json.Encoder()


async def prepend(first: T, rest: AsyncIterator[T]) -> AsyncIterator[T]:
    """``first`` (awaited before the status was sent), then the rest of ``rest``;
    ``rest`` is closed however the stream ends."""
    try:
        yield first
        async for event in rest:
            yield event
    finally:
        await rest.aclose()  # type: ignore[attr-defined]


def service_of(request: HttpRequest) -> ModelService:
    return request.app.state.service  # type: ignore[no-any-return]


def json_response(obj: object) -> Response[bytes]:
    """``obj`` (a response object, or plain data) as a JSON answer."""
    return Response(_encoder.encode(obj), media_type=JSON)


def stream_of(frames: AsyncIterator[bytes]) -> Stream:
    return Stream(sse(frames), media_type="text/event-stream", headers=SSE_HEADERS)


def meta_for(prefix: str, model: str, entry: ModelEntry) -> Meta:
    return Meta(prefix=prefix, model=model, fingerprint=entry.fingerprint())


_decoders: dict[type, msgspec.json.Decoder[Any]] = {}


# msgspec messages → OpenAI's error codes.
_CODES = [
    (re.compile(r"missing required field"), "missing_required_parameter"),
    (re.compile(r"^Expected `[^`]+`, got"), "invalid_type"),
    (re.compile(r"Expected `array` of length >= 1"), "empty_array"),
    (re.compile(r"Expected `array` of length <="), "array_above_max_length"),
    (re.compile(r"Expected `str` of length <="), "string_above_max_length"),
    (re.compile(r"Expected `str` of length >="), "empty_string"),
    (re.compile(r"Expected `(int|float)` >="), "value_below_minimum"),
    (re.compile(r"Expected `(int|float)` <="), "value_above_maximum"),
    (re.compile(r"Expected `(int|float)` >"), "value_below_minimum"),
    (re.compile(r"Invalid enum value|Invalid value"), "invalid_value"),
]


def decode(body: bytes, type_: type[T]) -> T:
    """Decode a request body strictly; errors name the JSON path as ``param``."""
    decoder = _decoders.get(type_)
    if decoder is None:
        decoder = _decoders[type_] = msgspec.json.Decoder(type_)
    try:
        return decoder.decode(body)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        text, _, where = str(exc).rpartition(" - at `")
        if not text:
            text, where = str(exc), "$`"
        path = where.rstrip("`").removeprefix("$").removeprefix(".")
        named = re.search(r"(?:missing required|unknown) field `([^`]+)`", text)
        if named:
            path = f"{path}.{named.group(1)}".lstrip(".")
        code = next((c for pattern, c in _CODES if pattern.search(text)), "invalid_value")
        raise InvalidRequest(
            f"{text} - at `{path or '$'}`", param=path or None, code=code
        ) from None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(
            f"request body is not valid JSON: {exc}", code="invalid_json"
        ) from None
    except RecursionError:
        raise InvalidRequest("request body is nested too deeply", code="invalid_json") from None
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"request body is not valid UTF-8: {exc.reason} at byte {exc.start}",
            code="invalid_json",
        ) from None


def _is_tokens(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in value)
    )


def prompts(prompt: str | list[Any], param: str = "prompt") -> list[str | tuple[int, ...]]:
    """A string, a list of strings, a token array, or a list of token arrays."""
    if isinstance(prompt, str):
        return [prompt]
    if not prompt:
        raise InvalidRequest(f"{param} must not be empty", param=param, code="empty_array")
    if all(isinstance(p, str) for p in prompt):
        return list(prompt)
    if _is_tokens(prompt):
        return [tuple(prompt)]
    if all(_is_tokens(p) for p in prompt):
        return [tuple(p) for p in prompt]
    raise InvalidRequest(
        f"{param} must be a string, a list of strings, a list of token ids (non-negative "
        "integers) or a list of such lists",
        param=param,
        code="invalid_type",
    )


class Wire(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base of wire types: keyword-only; unknown client fields are tolerated."""


class Out(msgspec.Struct, kw_only=True):
    """Base of response objects; ``UNSET`` fields are left out of the JSON."""


class PromptTokensDetails(Out, kw_only=True):
    cached_tokens: int


class CompletionTokensDetails(Out, kw_only=True):
    reasoning_tokens: int


class UsageOut(Out, kw_only=True):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails
    # Only for a model that thought: how many completion tokens were its thinking.
    completion_tokens_details: CompletionTokensDetails | UnsetType = UNSET


DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True)
class Meta:
    """What every object of one response shares."""

    prefix: str
    model: str
    fingerprint: str
    id: str = ""
    created: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", f"{self.prefix}-{uuid.uuid4().hex}")


def usage_out(prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> UsageOut:
    return UsageOut(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=cached),
        completion_tokens_details=(
            CompletionTokensDetails(reasoning_tokens=reasoning) if reasoning else UNSET
        ),
    )


def frame(obj: object) -> bytes:
    return b"data: " + _encoder.encode(obj) + b"\n\n"


def total_usage(results: list[Collected], n: int) -> UsageOut:
    """Every choice's completion; each prompt (the first of its ``n`` choices) once."""
    firsts = [r.usage for i, r in enumerate(results) if i % n == 0]
    return usage_out(
        sum(u.prompt_tokens for u in firsts),
        sum(r.usage.completion_tokens for r in results),
        sum(u.cached_tokens for u in firsts),
        sum(r.usage.reasoning_tokens for r in results),
    )


async def sse(frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Terminate a stream with ``[DONE]``; a failure mid-stream becomes one error frame."""
    try:
        async for chunk in frames:
            yield chunk
    except Exception as exc:  # noqa: BLE001 - reported to the client in-band, and logged
        _, body, _ = error_body(exc)
        yield b"data: " + envelope(body) + b"\n\n"
    finally:
        close = getattr(frames, "aclose", None)
        if close is not None:
            await close()
    yield DONE


def record_store(request: HttpRequest, table: str, *, noun: str, param: str) -> RecordStore:
    """The app's store of one kind of record (made on first use), in the app's store
    (``state.store``: the data directory's SQLite file, ``[server] store``, or a store
    deployment on Ray), bounded by ``[server] responses_max_age`` and
    ``responses_max_count``."""
    state = request.app.state
    stores: dict[str, RecordStore] = state.setdefault("record_stores", {})
    if table not in stores:
        config: Config = state.config
        stores[table] = open_records(
            state.store,
            table,
            max_age=config.server.responses_max_age_seconds(),
            max_count=config.server.responses_max_count,
            noun=noun,
            param=param,
        )
    return stores[table]
