"""The ``sentence-transformers`` backend: embedding models, and cross-encoders that
rerank (``kind = "cross-encoder"``) (extra ``modelport[st]``). Both tokenize with the
model's own tokenizer."""

from __future__ import annotations

import threading
from typing import Annotated, Any, Literal

import msgspec

from modelport.plugin import (
    BackendRegistry,
    BackendSpec,
    Capability,
    ConfigError,
    DetokenizeRequest,
    DetokenizeResult,
    EmbedRequest,
    EmbedResult,
    Feature,
    LoadContext,
    MissingDependency,
    Piece,
    RerankRequest,
    RerankResult,
    TokenizeRequest,
    TokenizeResult,
    Unsupported,
    decoded_texts,
    hookimpl,
    run_blocking,
)

__all__ = ["SentenceTransformersOptions", "StCrossEncoder", "StEmbedder", "register_backends"]


class SentenceTransformersOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Options of a ``backend = "sentence-transformers"`` model in plugins.toml."""

    # "embedding": a SentenceTransformer (/v1/embeddings); "cross-encoder": a
    # CrossEncoder, which scores query/document pairs (/v1/rerank).
    kind: Literal["embedding", "cross-encoder"] = "embedding"
    device: str = "cpu"
    normalize: bool = True
    batch_size: Annotated[int, msgspec.Meta(gt=0)] = 32
    max_seq_length: Annotated[int, msgspec.Meta(gt=0)] | None = None
    threads: Annotated[int, msgspec.Meta(gt=0)] | None = None
    precision: Literal["float32"] = "float32"


class _StModel:
    """What both kinds share: the model, its lock, and its tokenizer (a Hugging Face
    tokenizer: ``/tokenize`` counts a text as an input is counted, truncated at the
    model's maximum length)."""

    def __init__(self, model: Any, options: SentenceTransformersOptions):
        self.model = model
        self.options = options
        self._lock = threading.Lock()

    @property
    def max_length(self) -> int | None:
        length = getattr(self.model, "max_seq_length", None) or getattr(
            self.model, "max_length", None
        )
        return int(length) if length else None

    @property
    def vocab_size(self) -> int:
        """Token ids it takes (core refuses others)."""
        return len(self.model.tokenizer)

    async def tokenize(self, request: TokenizeRequest) -> TokenizeResult:
        if request.messages is not None:
            raise Unsupported(
                "a sentence-transformers model has no chat template to render messages "
                "with; send content",
                param="messages",
            )
        tokenizer = self.model.tokenizer
        ids = tokenizer.encode(
            request.text or "",
            add_special_tokens=request.add_special is not False,
            truncation=self.max_length is not None,
            max_length=self.max_length,
        )
        pieces = None
        if request.with_pieces:
            names = tokenizer.convert_ids_to_tokens(ids)
            pieces = tuple(Piece(id=i, piece=n) for i, n in zip(ids, names, strict=True))
        return TokenizeResult(tokens=tuple(ids), pieces=pieces, max_model_len=self.max_length)

    async def detokenize(self, request: DetokenizeRequest) -> DetokenizeResult:
        return DetokenizeResult(text=self.model.tokenizer.decode(list(request.tokens)))


def _import_st() -> tuple[Any, Any]:
    try:
        import sentence_transformers
        import torch
    except ImportError:
        raise MissingDependency(
            "backend sentence-transformers needs: pip install 'modelport[st]'"
        ) from None
    return sentence_transformers, torch


def _folder(ctx: LoadContext) -> str:
    if ctx.path is None or not ctx.path.is_dir():
        raise ConfigError(f"model {ctx.name!r}: no model directory at {ctx.path}")
    return str(ctx.path)


def _load(ctx: LoadContext) -> _StModel:
    st, torch = _import_st()
    options: SentenceTransformersOptions = ctx.options
    folder = _folder(ctx)
    if options.threads:
        torch.set_num_threads(options.threads)
    if options.kind == "cross-encoder":
        encoder = st.CrossEncoder(
            folder,
            device=options.device,
            local_files_only=True,
            max_length=options.max_seq_length,
        )
        return StCrossEncoder(encoder, options)
    model = st.SentenceTransformer(folder, device=options.device, local_files_only=True)
    if options.max_seq_length:
        model.max_seq_length = options.max_seq_length
    return StEmbedder(model, options)


class StCrossEncoder(_StModel):
    """A CrossEncoder: each (query, document) pair scored by the model (its activation
    applied: a relevance between 0 and 1 for a one-label model)."""

    async def rerank(self, request: RerankRequest) -> RerankResult:
        pairs = [(request.query, d) for d in request.documents]

        def work() -> RerankResult:
            with self._lock:
                scores = self.model.predict(
                    pairs,
                    batch_size=self.options.batch_size,
                    show_progress_bar=False,
                    convert_to_numpy=True,
                )
                encoded = self.model.tokenizer(
                    [p[0] for p in pairs],
                    [p[1] for p in pairs],
                    truncation=True,
                    max_length=self.max_length,
                )
            count = sum(len(ids) for ids in encoded["input_ids"])
            return RerankResult(scores=tuple(float(x) for x in scores), prompt_tokens=count)

        return await run_blocking(work)


class StEmbedder(_StModel):
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


def _capabilities(options: SentenceTransformersOptions) -> frozenset[Capability]:
    if options.kind == "cross-encoder":
        return frozenset({Capability.RERANK, Capability.TOKENIZE})
    return frozenset({Capability.EMBED, Capability.TOKENIZE})


@hookimpl
def register_backends(registry: BackendRegistry) -> None:
    registry.add(
        BackendSpec(
            name="sentence-transformers",
            description="Embedding models and cross-encoders on sentence-transformers (PyTorch)",
            options=SentenceTransformersOptions,
            capabilities=frozenset({Capability.EMBED, Capability.RERANK, Capability.TOKENIZE}),
            features=frozenset({Feature.TOKEN_INPUT}),
            capabilities_for=_capabilities,
            load=_load,
        )
    )
