"""The ``onnx`` backend: ONNX models on onnxruntime (extra ``modelport[onnx]``).

- ``task = "embed"``: sentence encoders on onnxruntime and the ``tokenizers`` library, pooled
  and normalised as the model's sentence-transformers config says; no torch at serve time.
- ``task = "generate"``: LLMs on onnxruntime-genai's generator API (chat and completions).

With ``convert = true`` the source is a model in another format (a sentence-transformers
folder, a GGUF file, a transformers folder): it is converted to ONNX once, on first need or
by ``modelport convert``, and cached in the model cache (extra ``modelport[onnx-convert]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec

from modelport.plugin import (
    BackendRegistry,
    BackendSpec,
    Capability,
    ConfigError,
    Feature,
    LoadContext,
    hookimpl,
)

__all__ = ["OnnxOptions", "register_backends"]


class OnnxOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Options of a ``backend = "onnx"`` model in plugins.toml (``[models.options]``)."""

    task: Literal["embed", "generate"]
    # Execution providers in order of preference. One this onnxruntime build lacks is
    # skipped with a logged warning; the CPU provider is always the last resort.
    providers: tuple[str, ...] = ("CUDAExecutionProvider", "CPUExecutionProvider")
    threads: Annotated[int, msgspec.Meta(gt=0)] | None = None
    # The source is not ONNX yet: convert it once, into the model cache, before loading.
    convert: bool = False
    # Weight precision of a converted LLM (onnxruntime-genai's model builder).
    precision: Literal["int4", "fp16", "fp32"] = "int4"
    # Embeddings: overrides of what the model's sentence-transformers config says.
    pooling: Literal["mean", "cls", "max", "mean_sqrt_len", "lasttoken"] | None = None
    normalize: bool | None = None
    max_seq_length: Annotated[int, msgspec.Meta(gt=0)] | None = None
    batch_size: Annotated[int, msgspec.Meta(gt=0)] = 32
    # Embeddings: run an int8 copy of the model (onnxruntime's dynamic quantization, made
    # once into the model cache): faster on CPUs with int8 dot products (VNNI; 1.6 x in
    # batches of 32 on 2 cores), vectors within cosine 0.99 of the float model's. The
    # activations' int8 range is taken per call, so a text's vector moves a little with
    # what it is batched with.
    quantize: Literal["int8"] | None = None
    # The .onnx file of an embedding model, relative to its folder (default: found).
    file: str | None = None
    # Generation: a Jinja chat template instead of the one in the model folder.
    chat_template: str | None = None


EMBED_FEATURES = frozenset({Feature.TOKEN_INPUT})
# Stop sequences and n come from core's fallbacks; penalties and min_p are refused (400),
# since onnxruntime-genai has a repetition penalty only.
GENERATE_FEATURES = frozenset({Feature.SEED, Feature.TOP_K, Feature.ECHO, Feature.TOKEN_INPUT})


def _capabilities(options: OnnxOptions) -> frozenset[Capability]:
    if options.task == "embed":
        return frozenset({Capability.EMBED, Capability.TOKENIZE})
    return frozenset({Capability.CHAT, Capability.COMPLETE, Capability.TOKENIZE})


def _features(options: OnnxOptions) -> frozenset[Feature]:
    return EMBED_FEATURES if options.task == "embed" else GENERATE_FEATURES


def _load(ctx: LoadContext) -> object:
    if ctx.options.task == "embed":
        from .embedder import OnnxEmbedder

        return OnnxEmbedder.load(ctx)
    if ctx.options.quantize is not None:
        raise ConfigError(
            "quantize applies to embedding models; a converted LLM's weights are set by precision",
            param="options.quantize",
        )
    from .generator import OnnxGenerator

    return OnnxGenerator.load(ctx)


def _prepare(ctx: LoadContext) -> Path | None:
    """``modelport convert``: the ONNX twin, and an embedding model's int8 copy."""
    from .twins import prepare

    twin = prepare(ctx)
    folder = twin or ctx.path
    if ctx.options.quantize != "int8" or ctx.options.task != "embed" or folder is None:
        return twin
    from .embedder import model_file
    from .quantized import int8_copy

    return int8_copy(model_file(folder, ctx.options.file), ctx)


@hookimpl
def register_backends(registry: BackendRegistry) -> None:
    registry.add(
        BackendSpec(
            name="onnx",
            description="ONNX models on onnxruntime (embeddings) and onnxruntime-genai (LLMs)",
            options=OnnxOptions,
            capabilities=frozenset(
                {Capability.CHAT, Capability.COMPLETE, Capability.EMBED, Capability.TOKENIZE}
            ),
            features=GENERATE_FEATURES | EMBED_FEATURES,
            capabilities_for=_capabilities,
            features_for=_features,
            load=_load,
            prepare=_prepare,
        )
    )
