"""The one module plugin authors import: everything a backend or a protocol adapter
needs, and nothing else.

    from modelport.plugin import BackendRegistry, BackendSpec, Capability, hookimpl

Names here only grow; what is not here (the rest of ``modelport``) is not plugin API
and may change. ``tests/test_plugin_api.py`` checks that the built-in backends and the
example plugins import modelport from this module alone.
"""

from __future__ import annotations

from .core import *  # noqa: F403 - the core types, errors, specs and hooks
from .core import __all__ as _core
from .core.adapters import AdapterContext, AdapterRegistry, AdapterSpec
from .core.chat_template import ChatTemplate
from .core.config import ReasoningConfig
from .core.errors import ModelLoadFailed
from .core.generation import StopCutter, generation_budget
from .core.images import (
    ImageContract,
    ImageQuality,
    ImageRequest,
    ImageResult,
    ImageStyle,
    parse_size,
)
from .core.reasoning import ReasoningSplitter
from .core.rerank import RerankRequest, RerankResult
from .core.sources import fetch as fetch_source
from .core.tokenization import (
    DetokenizeRequest,
    DetokenizeResult,
    Piece,
    TokenizeRequest,
    TokenizeResult,
    pieces_of,
)
from .core.tokens import check_token_ids, decoded_texts
from .core.types import ReasoningDelta, Thinking, TokenLogprob, TopLogprob
from .core.worker import Emit, coalesced_emits, flush_emits, run_blocking, stream_from_thread

__all__ = [
    *_core,
    "AdapterContext",
    "AdapterRegistry",
    "AdapterSpec",
    "ChatTemplate",
    "DetokenizeRequest",
    "DetokenizeResult",
    "Emit",
    "ImageContract",
    "ImageQuality",
    "ImageRequest",
    "ImageResult",
    "ImageStyle",
    "ModelLoadFailed",
    "Piece",
    "ReasoningConfig",
    "ReasoningDelta",
    "ReasoningSplitter",
    "RerankRequest",
    "RerankResult",
    "StopCutter",
    "Thinking",
    "TokenizeRequest",
    "TokenizeResult",
    "TokenLogprob",
    "TopLogprob",
    "check_token_ids",
    "coalesced_emits",
    "decoded_texts",
    "fetch_source",
    "flush_emits",
    "generation_budget",
    "parse_size",
    "pieces_of",
    "run_blocking",
    "stream_from_thread",
]
