"""Pure functions from the wire request to core requests."""

from __future__ import annotations

from modelport.core import types as core
from modelport.core.errors import InvalidRequest

from ..common import (
    prompts,
)
from ..sampling import (
    check_stream_options,
    sampling_of,
)
from . import wire

__all__ = ["completion_requests"]


def completion_requests(req: wire.CompletionRequest) -> list[core.CompletionRequest]:
    """One core request per prompt (OpenAI accepts a batch of prompts)."""
    check_stream_options(req)
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
    sampling = sampling_of(req, req.max_tokens, logprobs, req.logprobs if logprobs else None)
    batch = prompts(req.prompt)
    return [
        core.CompletionRequest(
            model=req.model,
            prompt=p,
            sampling=sampling,
            echo=bool(req.echo),
            suffix=req.suffix,
            best_of=req.best_of,
            user=req.user,
            prompt_param=f"prompt[{k}]" if len(batch) > 1 else "prompt",
        )
        for k, p in enumerate(batch)
    ]
