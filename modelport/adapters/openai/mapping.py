"""Pure functions from OpenAI wire requests to core requests."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from modelport.core import parameters
from modelport.core import types as core
from modelport.core.errors import InvalidRequest, Unsupported

from . import wire

__all__ = ["chat_request", "completion_requests", "decode", "embed_request"]

T = TypeVar("T")

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
        missing = re.search(r"missing required field `([^`]+)`", text)
        if missing:
            path = f"{path}.{missing.group(1)}".lstrip(".")
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


# --- chat -------------------------------------------------------------------------


def _refuse_unhonoured(req: wire.ChatCompletionRequest) -> None:
    refused = {
        "audio": req.audio is not None,
        "modalities": req.modalities not in (None, ["text"]),
        "prediction": req.prediction is not None,
        "web_search_options": req.web_search_options is not None,
        "functions": req.functions is not None,
        "function_call": req.function_call is not None,
        "reasoning_effort": req.reasoning_effort is not None,
        "store": bool(req.store),
        "verbosity": req.verbosity is not None,
    }
    for param, is_set in refused.items():
        if is_set:
            raise Unsupported(
                f"'{param}' is not supported by modelport's chat completions", param=param
            )


def _text_content(content: str | list[wire.TextPart]) -> str | tuple[core.ContentPart, ...]:
    if isinstance(content, str):
        return content
    return tuple(core.TextPart(text=p.text) for p in content)


def _user_content(content: str | list[wire.UserPart], i: int) -> str | tuple[core.ContentPart, ...]:
    if isinstance(content, str):
        return content
    parts: list[core.ContentPart] = []
    for j, part in enumerate(content):
        if isinstance(part, wire.TextPart):
            parts.append(core.TextPart(text=part.text))
        elif isinstance(part, wire.ImageUrlPart):
            parts.append(core.ImagePart(url=part.image_url.url, detail=part.image_url.detail))
        else:
            kind = "input_audio" if isinstance(part, wire.InputAudioPart) else "file"
            raise Unsupported(
                f"content parts of type '{kind}' are not supported",
                param=f"messages[{i}].content[{j}]",
            )
    return tuple(parts)


def _assistant(msg: wire.AssistantMessage, i: int) -> core.Message:
    if isinstance(msg.content, list):
        text = "".join(p.text if isinstance(p, wire.TextPart) else p.refusal for p in msg.content)
    else:
        text = msg.content or ""
    calls = tuple(
        core.ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
        for c in (msg.tool_calls or [])
    )
    return core.Message(
        role="assistant", content=text or None, tool_calls=calls, name=msg.name or None
    )


def _message(msg: wire.Message, i: int) -> core.Message:
    if isinstance(msg, wire.SystemMessage | wire.DeveloperMessage):
        role: core.Role = "system" if isinstance(msg, wire.SystemMessage) else "developer"
        return core.Message(role=role, content=_text_content(msg.content), name=msg.name or None)
    if isinstance(msg, wire.UserMessage):
        return core.Message(
            role="user", content=_user_content(msg.content, i), name=msg.name or None
        )
    if isinstance(msg, wire.AssistantMessage):
        return _assistant(msg, i)
    if isinstance(msg, wire.ToolMessage):
        return core.Message(
            role="tool", content=_text_content(msg.content), tool_call_id=msg.tool_call_id
        )
    raise Unsupported(
        "the deprecated 'function' role is not supported; use 'tool' messages",
        param=f"messages[{i}].role",
    )


def _logit_bias(bias: dict[str, float] | None) -> dict[int, float] | None:
    if not bias:
        return None
    out: dict[int, float] = {}
    for key, value in bias.items():
        token = int(key) if key.isascii() and key.isdigit() else -1
        if token < 0:
            raise InvalidRequest(
                f"logit_bias keys must be token ids, got {key!r}",
                param="logit_bias",
                code="invalid_value",
            )
        out[token] = value
    return out


def _stops(stop: str | list[str] | None) -> tuple[str, ...]:
    if stop is None:
        return ()
    return (stop,) if isinstance(stop, str) else tuple(stop)


def _check_stream_options(req: wire._Sampling) -> None:
    if req.stream_options is not None and not req.stream:
        raise InvalidRequest(
            "stream_options is only allowed when stream is true",
            param="stream_options",
            code="invalid_value",
        )


def _sampling(
    req: wire._Sampling, max_tokens: int | None, logprobs: bool, top_logprobs: int | None
) -> core.Sampling:
    return core.Sampling(
        **parameters.values(req),
        max_tokens=max_tokens,
        stop=_stops(req.stop),
        logit_bias=_logit_bias(req.logit_bias),
        logprobs=logprobs,
        top_logprobs=top_logprobs,
        n=req.n or 1,
    )


def _tool_choice(choice: str | wire.NamedToolChoice | None) -> core.ToolChoice:
    if choice is None:
        return core.ToolChoice()
    if isinstance(choice, str):
        return core.ToolChoice(mode=choice)  # type: ignore[arg-type]
    return core.ToolChoice(mode="function", function=choice.function.name)


def _response_format(fmt: wire.ResponseFormat | None) -> core.ResponseFormat:
    if fmt is None or isinstance(fmt, wire.TextFormat):
        return core.ResponseFormat()
    if isinstance(fmt, wire.JsonObjectFormat):
        return core.ResponseFormat(type="json_object")
    spec = fmt.json_schema
    schema = spec.schema if isinstance(spec.schema, dict) else {}
    return core.ResponseFormat(
        type="json_schema", name=spec.name, schema=schema, strict=bool(spec.strict)
    )


def chat_request(req: wire.ChatCompletionRequest) -> core.ChatRequest:
    _refuse_unhonoured(req)
    _check_stream_options(req)
    if req.top_logprobs is not None and not req.logprobs:
        raise InvalidRequest(
            "top_logprobs needs logprobs set to true", param="top_logprobs", code="invalid_value"
        )
    if req.tool_choice not in (None, "none") and not req.tools:
        raise InvalidRequest("tool_choice needs tools", param="tool_choice", code="invalid_value")
    tools = tuple(
        core.Tool(
            name=t.function.name,
            description=t.function.description or None,
            parameters=t.function.parameters or {},
            strict=bool(t.function.strict),
        )
        for t in (req.tools or [])
    )
    max_tokens = req.max_completion_tokens or req.max_tokens
    return core.ChatRequest(
        model=req.model,
        messages=tuple(_message(m, i) for i, m in enumerate(req.messages)),
        sampling=_sampling(req, max_tokens, bool(req.logprobs), req.top_logprobs),
        tools=tools,
        tool_choice=_tool_choice(req.tool_choice),
        parallel_tool_calls=req.parallel_tool_calls is not False,
        response_format=_response_format(req.response_format),
        user=req.user,
    )


# --- completions ------------------------------------------------------------------


def _is_tokens(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in value)
    )


def _prompts(prompt: str | list[Any], param: str = "prompt") -> list[str | tuple[int, ...]]:
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


def completion_requests(req: wire.CompletionRequest) -> list[core.CompletionRequest]:
    """One core request per prompt (OpenAI accepts a batch of prompts)."""
    _check_stream_options(req)
    if req.best_of is not None and req.best_of < (req.n or 1):
        raise InvalidRequest("best_of must be at least n", param="best_of", code="invalid_value")
    if req.best_of not in (None, 1) and req.stream:
        raise InvalidRequest("best_of cannot be streamed", param="best_of", code="invalid_value")
    if req.max_tokens == 0 and not req.echo:
        raise InvalidRequest(
            "max_tokens 0 is only meaningful with echo",
            param="max_tokens",
            code="value_below_minimum",
        )
    logprobs = req.logprobs is not None
    sampling = _sampling(req, req.max_tokens, logprobs, req.logprobs if logprobs else None)
    return [
        core.CompletionRequest(
            model=req.model,
            prompt=p,
            sampling=sampling,
            echo=bool(req.echo),
            suffix=req.suffix,
            best_of=req.best_of,
            user=req.user,
        )
        for p in _prompts(req.prompt)
    ]


# --- embeddings -------------------------------------------------------------------

MAX_EMBED_INPUTS = 2048


def embed_request(req: wire.EmbeddingRequest) -> core.EmbedRequest:
    inputs = _prompts(req.input, "input")
    if len(inputs) > MAX_EMBED_INPUTS:
        raise InvalidRequest(
            f"at most {MAX_EMBED_INPUTS} inputs per request",
            param="input",
            code="array_above_max_length",
        )
    for i, item in enumerate(inputs):
        if isinstance(item, str) and not item:
            where = "input" if isinstance(req.input, str) else f"input[{i}]"
            raise InvalidRequest(
                "embedding input must not be an empty string", param=where, code="empty_string"
            )
    if all(isinstance(x, str) for x in inputs):
        core_inputs: Any = tuple(inputs)
    elif all(isinstance(x, tuple) for x in inputs):
        core_inputs = tuple(inputs)
    else:  # pragma: no cover - _prompts never mixes kinds
        raise InvalidRequest("input mixes strings and token arrays", param="input")
    return core.EmbedRequest(
        model=req.model, inputs=core_inputs, dimensions=req.dimensions, user=req.user
    )
