"""A sentence encoder's pooling and normalisation, read from its sentence-transformers files
(``modules.json``, the Pooling module's ``config.json``, ``sentence_bert_config.json``),
and applied with numpy: the same vectors sentence-transformers computes, without torch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import msgspec

from modelport.plugin import ConfigError

__all__ = ["Pooling", "SentenceConfig", "normalized", "pool"]

Pooling = Literal["mean", "cls", "max", "mean_sqrt_len", "lasttoken"]

# sentence-transformers' Pooling config keys, in the order it checks them.
_POOLING_FLAGS: dict[str, Pooling] = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
    "pooling_mode_lasttoken": "lasttoken",
}
_POOLING_NAMES: dict[str, Pooling] = {
    "cls": "cls",
    "max": "max",
    "mean": "mean",
    "mean_sqrt_len_tokens": "mean_sqrt_len",
    "lasttoken": "lasttoken",
}
# Modules that change no vector on their way through an ONNX graph + pooling.
_PASSIVE = ("Transformer", "Pooling", "Normalize")


class SentenceConfig(msgspec.Struct, kw_only=True, frozen=True):
    """How token states become one vector, and where the tokenizer lives."""

    pooling: Pooling = "mean"
    normalize: bool = True
    max_seq_length: int | None = None
    transformer_dir: str = ""
    found: bool = False  # whether sentence-transformers files were there at all

    @classmethod
    def read(cls, folder: Path) -> SentenceConfig:
        modules = _json(folder / "modules.json")
        if not isinstance(modules, list):
            return cls(max_seq_length=_max_seq_length(folder))
        pooling: Pooling = "mean"
        normalize = False
        transformer_dir = ""
        for module in modules:
            kind = str(module.get("type", "")).rsplit(".", 1)[-1]
            path = str(module.get("path", ""))
            if kind not in _PASSIVE:
                raise ConfigError(
                    f"{folder}: sentence-transformers module {kind!r} ({path}) is not supported "
                    "by the onnx backend; supported: " + ", ".join(_PASSIVE)
                )
            if kind == "Transformer":
                transformer_dir = path
            elif kind == "Pooling":
                pooling = _pooling(folder / path / "config.json")
            else:
                normalize = True
        return cls(
            pooling=pooling,
            normalize=normalize,
            max_seq_length=_max_seq_length(folder / transformer_dir) or _max_seq_length(folder),
            transformer_dir=transformer_dir,
            found=True,
        )


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def _max_seq_length(folder: Path) -> int | None:
    config = _json(folder / "sentence_bert_config.json")
    value = config.get("max_seq_length") if isinstance(config, dict) else None
    return int(value) if isinstance(value, int) else None


def _pooling(path: Path) -> Pooling:
    config = _json(path)
    if not isinstance(config, dict):
        return "mean"
    named = config.get("pooling_mode")
    if isinstance(named, str):
        if named not in _POOLING_NAMES:
            raise ConfigError(
                f"{path}: pooling mode {named!r} is not supported by the onnx "
                f"backend; supported: {', '.join(_POOLING_NAMES)}"
            )
        return _POOLING_NAMES[named]
    chosen = [mode for key, mode in _POOLING_FLAGS.items() if config.get(key)]
    if len(chosen) > 1:
        raise ConfigError(
            f"{path}: combined pooling modes {chosen} are not supported by the "
            "onnx backend; set options.pooling to one of them"
        )
    if config.get("pooling_mode_weightedmean_tokens"):
        raise ConfigError(f"{path}: weighted-mean pooling is not supported by the onnx backend")
    return chosen[0] if chosen else "mean"


def pool(hidden: Any, mask: Any, mode: Pooling) -> Any:
    """One vector per row of ``hidden`` (batch, tokens, dim); ``mask`` marks real tokens."""
    import numpy as np

    weights = mask[..., None].astype(hidden.dtype)
    if mode == "cls":
        return hidden[:, 0]
    if mode == "max":
        return np.where(weights > 0, hidden, np.finfo(hidden.dtype).min).max(axis=1)
    if mode == "lasttoken":
        last = np.maximum(mask.sum(axis=1) - 1, 0)
        return hidden[np.arange(hidden.shape[0]), last]
    summed = (hidden * weights).sum(axis=1)
    counts = np.clip(weights.sum(axis=1), 1e-9, None)
    if mode == "mean_sqrt_len":
        return summed / np.sqrt(counts)
    return summed / counts


def normalized(vectors: Any) -> Any:
    """Unit length, as sentence-transformers' Normalize module does."""
    import numpy as np

    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.clip(norms, 1e-12, None)
