"""Pure functions from the wire request to core requests."""

from __future__ import annotations

from typing import Any

from modelport.core import types as core
from modelport.core.errors import InvalidRequest

from ..common import (
    prompts,
)
from . import wire

__all__ = ["embed_request"]


MAX_EMBED_INPUTS = 2048


def embed_request(req: wire.EmbeddingRequest) -> core.EmbedRequest:
    inputs = prompts(req.input, "input")
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
