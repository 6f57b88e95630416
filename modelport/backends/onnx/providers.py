"""Execution providers: the configured preference, narrowed to what this build has.

The CPU build (``modelport[onnx]``) has only the CPU provider; the CUDA build
(``modelport[onnx-gpu]``) adds CUDA. A provider that is asked for but missing is skipped
with a logged warning, never an error: the model still serves, on the CPU.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from typing import Any

from modelport.plugin import ConfigError, LoadContext, MissingDependency

__all__ = ["CPU", "choose_providers", "device_for", "genai_device", "import_genai"]

log = logging.getLogger("modelport.backends.onnx")

CPU = "CPUExecutionProvider"
GPU_EXTRA = "pip install 'modelport[onnx-gpu]' in an environment without 'modelport[onnx]'"

# onnxruntime-genai names its devices differently from onnxruntime's providers.
GENAI_DEVICES = {"CUDAExecutionProvider": "cuda", "DmlExecutionProvider": "dml"}


def choose_providers(
    wanted: Sequence[str], available: Collection[str], known: Collection[str], *, model: str
) -> list[str]:
    """The providers of ``wanted`` that ``available`` has, in order, ending with CPU."""
    unknown = [p for p in wanted if p not in known]
    if unknown:
        raise ConfigError(
            f"model {model!r}: unknown execution provider(s) {', '.join(unknown)} in "
            f"options.providers; onnxruntime knows: {', '.join(sorted(known))}",
            param="options.providers",
        )
    chosen = [p for p in wanted if p in available]
    missing = [p for p in wanted if p not in available]
    if CPU not in chosen:
        chosen.append(CPU)
    if missing:
        log.warning(
            "model %r: execution provider(s) %s not available in this onnxruntime build; "
            "running on %s. For CUDA: %s",
            model,
            ", ".join(missing),
            ", ".join(chosen),
            GPU_EXTRA,
        )
    return chosen


def genai_device(wanted: Sequence[str], available: dict[str, bool], *, model: str) -> str:
    """The onnxruntime-genai device for ``wanted``: the first GPU one this build has, else
    ``"cpu"`` (with a logged warning when a GPU was asked for)."""
    skipped: list[str] = []
    for provider in wanted:
        if provider == CPU:
            break
        device = GENAI_DEVICES.get(provider)
        if device is not None and available.get(device, False):
            return device
        skipped.append(provider)
    if skipped:
        log.warning(
            "model %r: execution provider(s) %s not available in this onnxruntime-genai "
            "build; running on CPUExecutionProvider. For CUDA: %s",
            model,
            ", ".join(skipped),
            GPU_EXTRA,
        )
    return "cpu"


def import_genai() -> Any:
    try:
        import onnxruntime_genai
    except ImportError:
        raise MissingDependency(
            'backend onnx needs onnxruntime-genai for task = "generate": pip install '
            "'modelport[onnx]' (or 'modelport[onnx-gpu]' for CUDA; never both)"
        ) from None
    return onnxruntime_genai


def device_for(ctx: LoadContext) -> str:
    """The onnxruntime-genai device this model runs on, from its ``providers``."""
    og = import_genai()
    available = {"cuda": og.is_cuda_available(), "dml": og.is_dml_available()}
    return genai_device(ctx.options.providers, available, model=ctx.name)
