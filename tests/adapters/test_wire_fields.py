"""Every field of every wire request is honoured, refused by name, or listed here as
having no effect on the core request (and why). A field added to a wire Struct without a
sample below fails this test: nothing is silently ignored.

For each field, a minimal valid body plus that field set to a sample value goes through
the real decoder and mapping: either the core request differs from the one without the
field (the field is mapped into core), or the mapping raises an error whose ``param`` is
the field (refused by name), or the field is in the route's own list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from modelport.adapters.openai.chat.mapping import chat_request
from modelport.adapters.openai.chat.wire import ChatCompletionRequest
from modelport.adapters.openai.common import decode
from modelport.adapters.openai.completions.mapping import completion_requests
from modelport.adapters.openai.completions.wire import CompletionRequest
from modelport.adapters.openai.embeddings.mapping import embed_request
from modelport.adapters.openai.embeddings.wire import EmbeddingRequest
from modelport.adapters.openai.images.mapping import image_request
from modelport.adapters.openai.images.wire import ImageGenerationRequest
from modelport.adapters.openai.responses.mapping import respond_request
from modelport.adapters.openai.responses.wire import CreateResponseRequest
from modelport.core.errors import ModelportError
from modelport.core.parameters import SAMPLING
from modelport.testing.conformance._generation import SAMPLING_PROBES

MSG = [{"role": "user", "content": "hi"}]
# A sample of each declared sampling parameter: its probe value, else a valid non-default.
DECLARED = {p.name: p.probe if p.probe is not None else 0.5 for p in SAMPLING}
SAMPLING_WIRE = {**DECLARED, "n": 2, "stop": "x", "logit_bias": {"1": 5}, "user": "u"}


class Case(msgspec.Struct, frozen=True):
    struct: type[Any]
    to_core: Callable[[Any], Any]
    base: dict[str, Any]
    samples: dict[str, Any]
    # Fields read by the route itself (how to answer), not by the core request, and why.
    route: dict[str, str] = {}


CASES = {
    "chat": Case(
        ChatCompletionRequest,
        chat_request,
        {"model": "m", "messages": MSG},
        {
            **SAMPLING_WIRE,
            "model": "other",
            "messages": [{"role": "user", "content": "bye"}],
            "max_tokens": 3,
            "max_completion_tokens": 3,
            "logprobs": True,
            "top_logprobs": 2,
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": "none",
            "parallel_tool_calls": False,
            "response_format": {"type": "json_object"},
            "audio": {},
            "modalities": ["audio"],
            "prediction": {},
            "web_search_options": {},
            "functions": [],
            "function_call": "auto",
            "reasoning_effort": "low",
            "reasoning_budget_tokens": 100,
            "store": True,
            "metadata": {"a": "b"},
            "service_tier": "flex",
            "verbosity": "low",
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        {
            "stream": "the route streams the answer",
            "stream_options": "the route adds the usage chunk",
            "metadata": "shown on the completion, and stored with it",
            "store": "the route stores the finished completion",
            "service_tier": "a scheduling hint; one tier here",
        },
    ),
    "completions": Case(
        CompletionRequest,
        lambda req: completion_requests(req),
        {"model": "m", "prompt": "hi"},
        {
            **SAMPLING_WIRE,
            "model": "other",
            "prompt": "bye",
            "max_tokens": 3,
            "echo": True,
            "suffix": "s",
            "logprobs": 2,
            "best_of": 3,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        {"stream": "the route streams the answer", "stream_options": "the usage chunk"},
    ),
    "embeddings": Case(
        EmbeddingRequest,
        embed_request,
        {"model": "m", "input": "hi"},
        {
            "model": "other",
            "input": "bye",
            "encoding_format": "base64",
            "dimensions": 4,
            "user": "u",
        },
        {"encoding_format": "the route encodes the vectors"},
    ),
    "images": Case(
        ImageGenerationRequest,
        image_request,
        {"model": "m", "prompt": "p"},
        {
            "model": "other",
            "prompt": "q",
            "n": 2,
            "size": "8x8",
            "quality": "low",
            "style": "vivid",
            "response_format": "b64_json",
            "output_format": "jpeg",
            "output_compression": 50,
            "background": "transparent",
            "moderation": "low",
            "stream": True,
            "partial_images": 1,
            "user": "u",
            "seed": 3,
        },
        {
            "response_format": "the route returns b64_json or a URL",
            "moderation": "no moderation model runs here; both values mean the same",
        },
    ),
    "responses": Case(
        CreateResponseRequest,
        respond_request,
        {"model": "m", "input": "hi"},
        {
            **DECLARED,
            "model": "other",
            "input": "bye",
            "instructions": "be brief",
            "previous_response_id": "resp_1",
            "tools": [{"type": "function", "name": "f"}],
            "tool_choice": "none",
            "parallel_tool_calls": False,
            "max_output_tokens": 16,
            "text": {"format": {"type": "json_object"}},
            "metadata": {"a": "b"},
            "user": "u",
            "truncation": "auto",
            "store": False,
            "stream": True,
            "stream_options": {"include_obfuscation": False},
            "background": True,
            "conversation": "c",
            "include": ["x"],
            "reasoning": {"effort": "low"},
            "prompt": {"id": "p"},
            "max_tool_calls": 1,
            "top_logprobs": 2,
            "service_tier": "flex",
            "prompt_cache_key": "k",
            "safety_identifier": "s",
        },
        {
            "stream": "the route streams the events",
            "stream_options": "the route's streaming options",
            "prompt_cache_key": "a caching hint with no effect on the output",
            "safety_identifier": "an abuse-tracking hint with no effect on the output",
        },
    ),
}


# Fields that are only valid together with another.
NEEDS = {"stream_options": {"stream": True}}


def _field_names(struct: type[Any]) -> list[str]:
    return [f.encode_name for f in msgspec.structs.fields(struct)]


def _map(case: Case, body: dict[str, Any]) -> Any:
    return case.to_core(decode(msgspec.json.encode(body), case.struct))


@pytest.mark.parametrize("name", CASES)
def test_every_wire_field_has_a_sample(name: str) -> None:
    case = CASES[name]
    missing = set(_field_names(case.struct)) - set(case.samples)
    assert not missing, f"{case.struct.__name__}: classify {sorted(missing)} in this test"
    assert set(case.samples) <= set(_field_names(case.struct))
    assert set(case.route) <= set(case.samples)


@pytest.mark.parametrize(
    ("name", "field"), [(n, f) for n, c in CASES.items() for f in _field_names(c.struct)]
)
def test_every_wire_field_is_mapped_refused_or_listed(name: str, field: str) -> None:
    case = CASES[name]
    baseline = _map(case, case.base)
    body = {**case.base, **NEEDS.get(field, {}), field: case.samples[field]}
    if field in case.route:
        _map(case, body)  # accepted
        return
    try:
        mapped = _map(case, body)
    except ModelportError as exc:
        assert exc.param is not None and exc.param.split(".")[0].split("[")[0] == field, (
            f"{field}: refused, but the error names {exc.param!r}: {exc.message}"
        )
        return
    assert mapped != baseline, f"{field} is accepted but changes nothing in the core request"


def test_every_gated_sampling_parameter_has_a_conformance_probe() -> None:
    for parameter in SAMPLING:
        if parameter.feature is None:
            continue
        assert parameter.probe is not None and parameter.probe != parameter.neutral
        build, _ = SAMPLING_PROBES[parameter.feature]
        probed = build(msgspec.defstruct("R", [("sampling", Any)])(sampling=_sampling()))
        assert getattr(probed.sampling, parameter.name) == parameter.probe, parameter.name


def _sampling() -> Any:
    from modelport.core.types import Sampling

    return Sampling()
