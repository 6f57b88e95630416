"""ONNX twins in the model cache: where a converted model lives, and converting it once.

A model with ``convert = true`` keeps its ordinary source (the same pypi:, hf: or local
files its other-runtime twin uses); its ONNX form is derived from those files into
``<model cache>/onnx/<source>-<task>-…-<digest>/``. The digest covers the source files
(path, sizes, modification times), the task, precision, target device and the converter
version, so a changed source or converter converts afresh and an unchanged one never does.

The conversion itself runs in a child process (``python -m
modelport.backends.onnx.export_process``): torch and transformers never enter the serving
process. Its progress lines are logged; its full output is kept in ``<twin>.log``. A lock
file makes concurrent processes (a server and ``modelport convert``, say) convert once.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from modelport.plugin import BackendError, ConfigError, LoadContext, MissingDependency

from . import OnnxOptions
from .providers import device_for

__all__ = ["CONVERTER_VERSION", "model_folder", "prepare", "twin_path"]

log = logging.getLogger("modelport.backends.onnx")

CONVERTER_VERSION = 1  # bump when the conversion's output changes
DONE = "modelport-onnx.json"  # written last: a twin without it is incomplete
CONVERT_EXTRA = "pip install 'modelport[onnx-convert]'"
_NEEDS = {
    "embed": ("torch", "transformers", "onnx", "onnxscript", "onnxruntime"),
    "generate": ("torch", "transformers", "accelerate", "gguf", "onnx", "onnxruntime_genai"),
}


def model_folder(ctx: LoadContext, device: str = "cpu") -> Path:
    """The folder the loader reads: the source itself, or its ONNX twin (converted now if
    it is not in the cache yet)."""
    if ctx.path is None or not ctx.path.exists():
        raise ConfigError(f"model {ctx.name!r}: source not found at {ctx.path}")
    if ctx.options.convert:
        return ensure_twin(ctx, device)
    if not ctx.path.is_dir():
        raise ConfigError(
            f"model {ctx.name!r}: the onnx backend reads a folder, got the file {ctx.path}"
            + (
                "; set convert = true to convert this GGUF file"
                if ctx.path.suffix == ".gguf"
                else ""
            )
        )
    return ctx.path


def prepare(ctx: LoadContext) -> Path | None:
    """``BackendSpec.prepare``: convert now (``modelport convert``), if the model asks."""
    if not ctx.options.convert:
        return None
    if ctx.path is None or not ctx.path.exists():
        raise ConfigError(f"model {ctx.name!r}: source not found at {ctx.path}")
    return ensure_twin(ctx, _device(ctx))


def _device(ctx: LoadContext) -> str:
    """The device an LLM twin is built for: what the generator will run on."""
    if ctx.options.task == "embed":
        return "cpu"
    return device_for(ctx)


def twin_path(ctx: LoadContext, device: str) -> Path:
    assert ctx.path is not None
    options: OnnxOptions = ctx.options
    if ctx.cache_dir is None:
        raise ConfigError(
            f"model {ctx.name!r}: convert = true needs a model cache (LoadContext.cache_dir)"
        )
    source = ctx.path.resolve()
    precision = options.precision if options.task == "generate" else None
    ident = json.dumps(
        [str(source), _fingerprint(source), options.task, precision, device, CONVERTER_VERSION]
    )
    digest = hashlib.sha256(ident.encode()).hexdigest()[:12]
    named = source.stem if source.is_file() else f"{source.parent.name}-{source.name}"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", named)
    detail = "embed" if options.task == "embed" else f"generate-{options.precision}-{device}"
    return ctx.cache_dir / "onnx" / f"{stem}-{detail}-{digest}"


def _fingerprint(source: Path) -> list[tuple[str, int, int]]:
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    return [
        (str(p.relative_to(source.parent)), p.stat().st_size, p.stat().st_mtime_ns) for p in files
    ]


def ensure_twin(ctx: LoadContext, device: str) -> Path:
    twin = twin_path(ctx, device)
    if (twin / DONE).is_file():
        return twin
    _check_converter(ctx.options.task)
    twin.parent.mkdir(parents=True, exist_ok=True)
    with _locked(twin.with_name(twin.name + ".lock"), ctx.name):
        if (twin / DONE).is_file():
            return twin  # another process converted it while we waited
        _convert(ctx, twin, device)
    return twin


def _check_converter(task: str) -> None:
    missing = [m for m in _NEEDS[task] if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingDependency(
            f"converting a model to ONNX needs {', '.join(missing)}: {CONVERT_EXTRA}"
        )


@contextlib.contextmanager
def _locked(path: Path, name: str) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no cross-process lock
        yield
        return
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("model %r: waiting for another process converting it", name)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _convert(ctx: LoadContext, twin: Path, device: str) -> None:
    assert ctx.path is not None
    options: OnnxOptions = ctx.options
    staging = twin.with_name(f".{twin.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    logfile = twin.with_name(twin.name + ".log")
    command = [
        sys.executable,
        "-m",
        "modelport.backends.onnx.export_process",
        options.task,
        str(ctx.path),
        str(staging),
        "--precision",
        options.precision,
        "--device",
        device,
        "--log",
        str(logfile),
    ]
    log.info("model %r: converting %s to ONNX into %s (once; cached)", ctx.name, ctx.path, twin)
    started = time.monotonic()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TQDM_DISABLE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    try:
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        ) as child:
            assert child.stdout is not None
            for line in child.stdout:
                log.info("model %r: %s", ctx.name, line.rstrip())
        if child.returncode != 0:
            raise BackendError(
                f"converting model {ctx.name!r} to ONNX failed (exit {child.returncode}); "
                f"see {logfile}"
            )
        seconds = time.monotonic() - started
        (staging / DONE).write_text(
            json.dumps(
                {
                    "source": str(ctx.path),
                    "task": options.task,
                    "precision": options.precision,
                    "device": device,
                    "converter_version": CONVERTER_VERSION,
                    "seconds": round(seconds, 1),
                },
                indent=2,
            )
        )
        shutil.rmtree(twin, ignore_errors=True)
        os.replace(staging, twin)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("model %r: converted in %.0fs", ctx.name, seconds)
