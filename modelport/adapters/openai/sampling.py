"""Sampling, shared by chat and completions: the wire fields (every declared sampling
parameter, plus ``n``, ``stop``, ``logit_bias`` and streaming) and their mapping to
core's ``Sampling``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from msgspec import UNSET, Meta, UnsetType

from modelport.core import parameters
from modelport.core import types as core
from modelport.core.errors import InvalidRequest
from modelport.core.parameters import fields_struct

from .common import Wire

__all__ = [
    "Bias",
    "Choices",
    "MaxTokens",
    "SamplingFields",
    "SamplingRequest",
    "Stop",
    "StreamOptions",
    "check_stream_options",
    "sampling_of",
]


class StreamOptions(Wire, kw_only=True):
    include_usage: bool = False
    include_obfuscation: bool | UnsetType = UNSET


MaxTokens = Annotated[int, Meta(ge=1)]


Stop = (
    Annotated[str, Meta(max_length=256)]
    | Annotated[list[Annotated[str, Meta(max_length=256)]], Meta(max_length=16)]
)


Bias = dict[str, Annotated[float, Meta(ge=-100, le=100)]]


Choices = Annotated[int, Meta(ge=1, le=128)]


if TYPE_CHECKING:

    class SamplingFields(Wire, kw_only=True):
        """The declared sampling parameters as wire fields, read as attributes."""

        def __getattr__(self, name: str) -> Any: ...

else:
    # One field per declared sampling parameter (modelport.core.parameters), with its
    # limits: OpenAI's own (temperature, top_p, seed, the penalties) and the extensions
    # vLLM and Ollama accept (top_k, min_p, typical_p, repeat_penalty).
    SamplingFields = fields_struct(
        "SamplingFields", Wire, limits=True, kw_only=True, omit_defaults=True
    )


class SamplingRequest(SamplingFields, kw_only=True):
    n: Choices | None = None
    stop: Stop | None = None
    logit_bias: Bias | None = None
    user: str | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None


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


def check_stream_options(req: SamplingRequest) -> None:
    if req.stream_options is not None and not req.stream:
        raise InvalidRequest(
            "stream_options is only allowed when stream is true",
            param="stream_options",
            code="invalid_value",
        )


def sampling_of(
    req: SamplingRequest, max_tokens: int | None, logprobs: bool, top_logprobs: int | None
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
