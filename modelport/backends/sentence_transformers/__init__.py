"""The ``sentence-transformers`` backend: embedding models (extra ``modelport[st]``)."""

from __future__ import annotations

import threading
from typing import Annotated, Any, Literal

import msgspec

from modelport.plugin import (
    BackendRegistry,
    BackendSpec,
    Capability,
    ConfigError,
    EmbedRequest,
    EmbedResult,
    Feature,
    LoadContext,
    MissingDependency,
    decoded_texts,
    hookimpl,
    run_blocking,
)

__all__ = ["SentenceTransformersOptions", "StEmbedder", "register_backends"]


class SentenceTransformersOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Options of a ``backend = "sentence-transformers"`` model in plugins.toml."""

    device: str = "cpu"
    normalize: bool = True
    batch_size: Annotated[int, msgspec.Meta(gt=0)] = 32
    max_seq_length: Annotated[int, msgspec.Meta(gt=0)] | None = None
    threads: Annotated[int, msgspec.Meta(gt=0)] | None = None
    precision: Literal["float32"] = "float32"


class StEmbedder:
    def __init__(self, model: Any, options: SentenceTransformersOptions):
        self.model = model
        self.options = options
        self._lock = threading.Lock()

    @classmethod
    def load(cls, ctx: LoadContext) -> StEmbedder:
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise MissingDependency(
                "backend sentence-transformers needs: pip install 'modelport[st]'"
            ) from None
        options: SentenceTransformersOptions = ctx.options
        if ctx.path is None or not ctx.path.is_dir():
            raise ConfigError(f"model {ctx.name!r}: no model directory at {ctx.path}")
        if options.threads:
            torch.set_num_threads(options.threads)
        model = SentenceTransformer(str(ctx.path), device=options.device, local_files_only=True)
        if options.max_seq_length:
            model.max_seq_length = options.max_seq_length
        return cls(model, options)

    @property
    def vocab_size(self) -> int:
        """Token ids it takes (core refuses others)."""
        return len(self.model.tokenizer)

    def _texts(self, request: EmbedRequest) -> list[str]:
        tokenizer = self.model.tokenizer
        special = set(tokenizer.all_special_ids)
        return decoded_texts(
            request.inputs,
            lambda ids: tokenizer.decode(ids, skip_special_tokens=True),
            lambda text: tokenizer.encode(text, add_special_tokens=False),
            special.__contains__,
            "input",
        )

    def _count_tokens(self, texts: list[str]) -> list[int]:
        encoded = self.model.tokenizer(texts, truncation=True, max_length=self.model.max_seq_length)
        return [len(ids) for ids in encoded["input_ids"]]

    async def embed(self, request: EmbedRequest) -> EmbedResult:
        texts = self._texts(request)

        def work() -> EmbedResult:
            with self._lock:
                vectors = self.model.encode(
                    texts,
                    batch_size=self.options.batch_size,
                    normalize_embeddings=self.options.normalize,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                tokens = self._count_tokens(texts)
            return EmbedResult(
                vectors=vectors.astype("float32").tolist(),
                prompt_tokens=sum(tokens),
                input_tokens=tokens,
            )

        return await run_blocking(work)


@hookimpl
def register_backends(registry: BackendRegistry) -> None:
    registry.add(
        BackendSpec(
            name="sentence-transformers",
            description="Embedding models on sentence-transformers (PyTorch)",
            options=SentenceTransformersOptions,
            capabilities=frozenset({Capability.EMBED}),
            features=frozenset({Feature.TOKEN_INPUT}),
            load=StEmbedder.load,
        )
    )
