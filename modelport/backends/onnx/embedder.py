"""A sentence encoder on onnxruntime and the ``tokenizers`` library (no torch at serve time)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from modelport.plugin import (
    ConfigError,
    DetokenizeRequest,
    DetokenizeResult,
    EmbedRequest,
    EmbedResult,
    LoadContext,
    MissingDependency,
    Piece,
    TokenizeRequest,
    TokenizeResult,
    Unsupported,
    decoded_texts,
    run_blocking,
)

from . import OnnxOptions
from .providers import choose_providers
from .quantized import int8_copy
from .sentence_config import SentenceConfig, normalized, pool
from .twins import model_folder

__all__ = ["OnnxEmbedder", "model_file"]

log = logging.getLogger("modelport.backends.onnx")

TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
DEFAULT_MAX_LENGTH = 512


def _import_runtime() -> tuple[Any, Any, Any]:
    try:
        import numpy
        import onnxruntime
        import tokenizers
    except ImportError:
        raise MissingDependency(
            "backend onnx needs onnxruntime and tokenizers: pip install 'modelport[onnx]' "
            "(or 'modelport[onnx-gpu]' for CUDA; never both)"
        ) from None
    return onnxruntime, tokenizers, numpy


class OnnxEmbedder:
    def __init__(
        self,
        session: Any,
        tokenizer: Any,
        sentence: SentenceConfig,
        options: OnnxOptions,
        pad_id: int,
    ):
        self.session = session
        self.tokenizer = tokenizer
        self.pooling = options.pooling or sentence.pooling
        self.normalize = sentence.normalize if options.normalize is None else options.normalize
        self.batch_size = options.batch_size
        self.pad_id = pad_id
        self.inputs = {i.name: i for i in session.get_inputs()}
        self.output = session.get_outputs()[0].name
        self.providers: list[str] = session.get_providers()
        _, _, self.np = _import_runtime()

    @classmethod
    def load(cls, ctx: LoadContext) -> OnnxEmbedder:
        ort, tokenizers, _ = _import_runtime()
        options: OnnxOptions = ctx.options
        folder = model_folder(ctx)
        sentence = SentenceConfig.read(folder)
        if not sentence.found:
            log.info(
                "model %r: no sentence-transformers files in %s; %s pooling, %s",
                ctx.name,
                folder,
                options.pooling or sentence.pooling,
                "normalised" if options.normalize is not False else "not normalised",
            )
        tokenizer_dir = _tokenizer_dir(folder, sentence)
        tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
        max_length = (
            options.max_seq_length or sentence.max_seq_length or _model_max_length(tokenizer_dir)
        )
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length)
        onnx_file = model_file(folder, options.file)
        if options.quantize == "int8":
            onnx_file = int8_copy(onnx_file, ctx)
        session = _session(ort, onnx_file, options, ctx.name)
        return cls(session, tokenizer, sentence, options, _pad_id(tokenizer, tokenizer_dir))

    @property
    def vocab_size(self) -> int:
        """Token ids it takes (core refuses others)."""
        return int(self.tokenizer.get_vocab_size(with_added_tokens=True))

    async def embed(self, request: EmbedRequest) -> EmbedResult:
        tokenizer = self.tokenizer
        special = {i for i, t in tokenizer.get_added_tokens_decoder().items() if t.special}
        texts = decoded_texts(
            request.inputs,
            lambda ids: tokenizer.decode(ids, skip_special_tokens=True),
            lambda text: tokenizer.encode(text, add_special_tokens=False).ids,
            special.__contains__,
            "input",
        )
        return await run_blocking(lambda: self.encode(texts))

    async def tokenize(self, request: TokenizeRequest) -> TokenizeResult:
        """A text as an input is tokenized (truncated at the model's maximum length)."""
        if request.messages is not None:
            raise Unsupported(
                "an embedding model has no chat template to render messages with; send content",
                param="messages",
            )
        encoding = self.tokenizer.encode(
            request.text or "", add_special_tokens=request.add_special is not False
        )
        pieces = None
        if request.with_pieces:
            pieces = tuple(
                Piece(id=i, piece=t) for i, t in zip(encoding.ids, encoding.tokens, strict=True)
            )
        length = self.tokenizer.truncation["max_length"] if self.tokenizer.truncation else None
        return TokenizeResult(tokens=tuple(encoding.ids), pieces=pieces, max_model_len=length)

    async def detokenize(self, request: DetokenizeRequest) -> DetokenizeResult:
        text = self.tokenizer.decode(list(request.tokens), skip_special_tokens=False)
        return DetokenizeResult(text=text)

    def encode(self, texts: list[str]) -> EmbedResult:
        """Vectors for ``texts``: tokenised once, run in length-sorted batches (little
        padding), returned in input order."""
        np = self.np
        encodings = self.tokenizer.encode_batch(texts)
        lengths = [len(e.ids) for e in encodings]
        order = sorted(range(len(texts)), key=lengths.__getitem__)
        vectors: list[Any] = [None] * len(texts)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            pooled = self._run([encodings[i] for i in chunk])
            for i, vector in zip(chunk, pooled, strict=True):
                vectors[i] = vector
        matrix = np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, 0))
        if self.normalize:
            matrix = normalized(matrix)
        return EmbedResult(
            vectors=matrix.tolist(), prompt_tokens=sum(lengths), input_tokens=lengths
        )

    def _run(self, encodings: list[Any]) -> Any:
        np = self.np
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self.pad_id, dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
            types[row, : len(e.ids)] = e.type_ids
        arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        feed = {
            name: arrays[name].astype(_dtype(np, spec.type)) for name, spec in self.inputs.items()
        }
        hidden = self.session.run([self.output], feed)[0]
        return hidden if hidden.ndim == 2 else pool(hidden, mask, self.pooling)


def _session(ort: Any, model_file: Path, options: OnnxOptions, name: str) -> Any:
    settings = ort.SessionOptions()
    settings.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if options.threads:
        settings.intra_op_num_threads = options.threads
    # Idle worker threads sleep instead of spinning: the CPU they would burn waiting is
    # the event loop's, which parses the requests that make up the next batch.
    settings.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = choose_providers(
        options.providers, ort.get_available_providers(), ort.get_all_providers(), model=name
    )
    session = ort.InferenceSession(str(model_file), settings, providers=providers)
    extra = [i.name for i in session.get_inputs() if i.name not in TOKEN_INPUTS]
    if extra:
        raise ConfigError(
            f"model {name!r}: {model_file} takes inputs {extra}; the onnx "
            f"backend feeds only {', '.join(TOKEN_INPUTS)}"
        )
    log.info("model %r: %s on %s", name, model_file.name, ", ".join(session.get_providers()))
    return session


def model_file(folder: Path, file: str | None) -> Path:
    if file is not None:
        path = folder / file
        if not path.is_file():
            raise ConfigError(f"options.file: {path} does not exist", param="options.file")
        return path
    for candidate in (folder / "model.onnx", folder / "onnx" / "model.onnx"):
        if candidate.is_file():
            return candidate
    found = sorted(folder.glob("*.onnx"))
    if len(found) == 1:
        return found[0]
    raise ConfigError(
        f"no ONNX model in {folder}"
        + (" (several: set options.file)" if found else "")
        + "; to export one from this folder, set convert = true in [models.options]"
    )


def _tokenizer_dir(folder: Path, sentence: SentenceConfig) -> Path:
    for candidate in (folder / sentence.transformer_dir, folder):
        if (candidate / "tokenizer.json").is_file():
            return candidate
    raise ConfigError(
        f"no tokenizer.json in {folder}: the onnx backend needs a fast "
        "(tokenizers) tokenizer file beside the model"
    )


def _tokenizer_config(folder: Path) -> dict[str, Any]:
    try:
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def _model_max_length(folder: Path) -> int:
    value = _tokenizer_config(folder).get("model_max_length")
    return int(value) if isinstance(value, int) and 0 < value <= 1 << 20 else DEFAULT_MAX_LENGTH


def _pad_id(tokenizer: Any, folder: Path) -> int:
    pad = _tokenizer_config(folder).get("pad_token")
    if isinstance(pad, dict):
        pad = pad.get("content")
    token_id = tokenizer.token_to_id(pad) if isinstance(pad, str) else None
    return int(token_id) if token_id is not None else 0


def _dtype(np: Any, onnx_type: str) -> Any:
    return np.int32 if onnx_type == "tensor(int32)" else np.int64
