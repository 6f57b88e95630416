"""modelport backend ``ctransformers``: GGML-era files and SentencePiece llama GGUFs.

ctransformers 0.2.27 (archived) still loads what newer runtimes dropped: GGML gpt-2
files, and GGUF llamas with a SentencePiece vocabulary. It cannot load GGUFs with a
GPT-2 (BPE) vocabulary such as SmolLM2: use ``backend = "gguf"`` for those.

The runtime is imported in the loader, never at start-up, so a missing SDK is a clear
error only for the models that use this backend.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from modelport.plugin import BackendRegistry, BackendSpec, Capability, Feature, hookimpl

__all__ = ["CtransformersOptions", "register_backends"]


class CtransformersOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``[models.options]`` of a ``backend = "ctransformers"`` model."""

    # GGML files do not say what they hold: name the architecture. GGUFs say it.
    model_type: Literal["gpt2"] | None = None
    # Tokens of context; None keeps the file's (GGML) or ctransformers' 512 (GGUF).
    context_length: Annotated[int, msgspec.Meta(gt=0)] | None = None
    threads: Annotated[int, msgspec.Meta(gt=0)] | None = None
    batch_size: Annotated[int, msgspec.Meta(gt=0)] = 8
    # ctransformers' CPU build; None detects it (with py-cpuinfo).
    lib: Literal["avx2", "avx", "basic"] | None = None
    # A Jinja2 chat template; None uses the GGUF's own, else ChatML.
    chat_template: str | None = None


def _load(ctx: Any) -> object:
    from .model import CtransformersModel

    return CtransformersModel.load(ctx)


@hookimpl
def register_backends(registry: BackendRegistry) -> None:
    registry.add(
        BackendSpec(
            name="ctransformers",
            description="GGML-era files and SentencePiece llama GGUFs on ctransformers 0.2.27",
            options=CtransformersOptions,
            capabilities=frozenset({Capability.CHAT, Capability.COMPLETE}),
            features=frozenset({Feature.SEED, Feature.TOP_K}),
            load=_load,
        )
    )
