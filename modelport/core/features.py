"""Features: the optional parts of a request a backend may honour natively.

A request that needs a feature the model does not declare is refused with a 400 naming
the parameter (see ``contract``); the sampling parameters say which feature gates each
(see ``parameters``).
"""

from __future__ import annotations

import enum

__all__ = ["Feature"]


class Feature(enum.StrEnum):
    """Request features a backend may honour natively.

    Core provides fallbacks for ``STOP`` (stop sequences cut in core), ``N`` (fan-out into
    single generations) and ``DIMENSIONS`` (truncate and renormalise), so those need no
    declaration to work; completions ``best_of`` is ranked in core and needs ``LOGPROBS``.
    """

    STOP = "stop"
    SEED = "seed"
    PENALTIES = "penalties"
    TOP_K = "top_k"
    MIN_P = "min_p"
    TYPICAL_P = "typical_p"
    LOGPROBS = "logprobs"
    LOGIT_BIAS = "logit_bias"
    N = "n"
    TOOLS = "tools"
    JSON_OBJECT = "json_object"
    JSON_SCHEMA = "json_schema"
    VISION = "vision"
    ECHO = "echo"
    SUFFIX = "suffix"
    TOKEN_INPUT = "token_input"
    DIMENSIONS = "dimensions"
    # Follows a reasoning model's thinking block (``ChatRequest.thinking``): closes it
    # when its budget is spent, switches thinking off for effort ``none``, and starts a
    # grammar (tools, ``response_format``) after the end marker.
    REASONING = "reasoning"
