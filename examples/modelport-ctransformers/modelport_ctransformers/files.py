"""What a model file holds, read before ctransformers sees it.

ctransformers' loaders trust their input: a GGUF whose vocabulary lacks SentencePiece's
byte tokens makes the tokeniser throw through a C boundary (the process aborts) on the
first character it cannot spell. So the plugin refuses, at load time and with a message,
every file it cannot serve safely.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from modelport.plugin import ConfigError, MissingDependency

from . import CtransformersOptions

__all__ = ["ModelFile", "inspect_file"]

GGUF_MAGIC = b"GGUF"
GGML_MAGIC = b"lmgg"  # 0x67676d6c, little-endian: the unversioned GGML layout (gpt-2)
BYTE_TOKENS = frozenset(f"<0x{b:02X}>" for b in range(256))


class ModelFile(msgspec.Struct, kw_only=True, frozen=True):
    """``kind`` is "spm" (SentencePiece llama GGUF) or "gpt2" (GGML gpt-2 vocabulary)."""

    kind: str
    model_type: str | None
    chat_template: str | None = None


def inspect_file(path: Path, options: CtransformersOptions) -> ModelFile:
    with path.open("rb") as f:
        magic = f.read(4)
    if magic == GGUF_MAGIC:
        return _inspect_gguf(path)
    if magic == GGML_MAGIC:
        if options.model_type is None:
            raise ConfigError(
                f"{path} is a GGML file, which does not say what it holds: set "
                'model_type = "gpt2" in [models.options]',
                param="options.model_type",
            )
        return ModelFile(kind="gpt2", model_type=options.model_type)
    raise ConfigError(
        f"{path} is neither a GGUF nor an unversioned GGML file (magic {magic!r}); "
        "backend ctransformers serves SentencePiece llama GGUFs and GGML gpt-2 files"
    )


def _gguf_reader(path: Path) -> object:
    try:
        import gguf
    except ImportError:
        raise MissingDependency(
            "backend ctransformers needs the gguf package: pip install modelport-ctransformers"
        ) from None
    return gguf.GGUFReader(str(path))


def _string(reader: object, key: str) -> str | None:
    field = reader.fields.get(key)  # type: ignore[attr-defined]
    if field is None:
        return None
    return bytes(field.parts[field.data[0]]).decode("utf-8", errors="replace")


def _tokens(reader: object) -> set[str]:
    field = reader.fields.get("tokenizer.ggml.tokens")  # type: ignore[attr-defined]
    if field is None:
        return set()
    return {bytes(field.parts[i]).decode("utf-8", errors="replace") for i in field.data}


def _inspect_gguf(path: Path) -> ModelFile:
    reader = _gguf_reader(path)
    arch = _string(reader, "general.architecture")
    vocab = _string(reader, "tokenizer.ggml.model")
    if arch != "llama" or vocab != "llama":
        raise ConfigError(
            f"{path} is a GGUF {arch!r} model with a {vocab!r} vocabulary; ctransformers "
            "0.2.27 loads only llama GGUFs with a SentencePiece ('llama') vocabulary: "
            'serve this one with backend = "gguf"'
        )
    missing = BYTE_TOKENS - _tokens(reader)
    if missing:
        raise ConfigError(
            f"{path} lacks {len(missing)} SentencePiece byte tokens (e.g. {min(missing)}); "
            "ctransformers would abort the server on the first character it cannot spell"
        )
    return ModelFile(
        kind="spm", model_type=None, chat_template=_string(reader, "tokenizer.chat_template")
    )
