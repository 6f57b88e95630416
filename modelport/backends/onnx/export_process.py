"""Converting models to ONNX, in a child process of its own:
``python -m modelport.backends.onnx.export_process TASK SOURCE OUTPUT``.

- ``embed``: a sentence-transformers folder → its transformer exported with
  ``torch.onnx.export`` (``model.onnx``, token states out) beside the tokenizer and the
  sentence-transformers files that say how to pool; checked against PyTorch.
- ``generate``: a GGUF file (dequantised by transformers) or a transformers folder →
  onnxruntime-genai's model builder (int4 by default) → a folder onnxruntime-genai loads.

Run by ``twins.py`` in a child process. Progress lines go to stdout; everything the
libraries print goes to the ``--log`` file. Nothing is downloaded: the hubs are offline.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

__all__ = ["export_generator", "export_sentence_encoder", "main"]

Report = Callable[[str], None]

# Copied beside model.onnx: everything but the weights (and other runtimes' exports).
_WEIGHTS = {".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".onnx", ".ckpt"}
_SKIP_DIRS = {"onnx", "openvino", ".git"}


def export_sentence_encoder(source: Path, output: Path, report: Report) -> None:
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    transformer_dir = source / _transformer_path(source)
    report(f"step 1/3: loading {transformer_dir.name or source.name} with transformers")
    model = AutoModel.from_pretrained(transformer_dir, local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(transformer_dir, local_files_only=True)
    names = _input_names(model)
    sample = tokenizer(
        ["A sample sentence to trace the model with.", "A shorter one."],
        padding=True,
        return_tensors="pt",
    )
    sample.setdefault("token_type_ids", torch.zeros_like(sample["input_ids"]))
    args = tuple(sample[n] for n in names)

    class TokenStates(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            given = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                given["token_type_ids"] = token_type_ids
            return self.model(**given).last_hidden_state

    output.mkdir(parents=True, exist_ok=True)
    report("step 2/3: exporting with torch.onnx.export")
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
    with torch.no_grad():
        torch.onnx.export(
            TokenStates(),
            args,
            str(output / "model.onnx"),
            input_names=list(names),
            output_names=["last_hidden_state"],
            dynamic_shapes={n: {0: batch, 1: seq} for n in names},
            external_data=False,
            dynamo=True,
        )
        expected = TokenStates()(*args).numpy()
    _copy_tokenizer_and_config(source, output)
    report("step 3/3: checking the ONNX model against PyTorch")
    import onnxruntime

    session = onnxruntime.InferenceSession(
        str(output / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    got = session.run(None, {n: a.numpy() for n, a in zip(names, args, strict=True)})[0]
    worst = float(np.abs(got - expected).max())
    if worst > 1e-3:
        raise SystemExit(f"the ONNX export differs from PyTorch by {worst:.2e}")
    report(f"ONNX matches PyTorch (largest difference {worst:.1e})")


def _transformer_path(source: Path) -> str:
    try:
        modules = json.loads((source / "modules.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ""
    for module in modules:
        if str(module.get("type", "")).endswith("Transformer"):
            return str(module.get("path", ""))
    return ""


def _input_names(model: Any) -> tuple[str, ...]:
    import inspect

    accepted = inspect.signature(model.forward).parameters
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in accepted and int(getattr(model.config, "type_vocab_size", 0)) > 0:
        names.append("token_type_ids")
    return tuple(names)


def _copy_tokenizer_and_config(source: Path, output: Path) -> None:
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if not path.is_file() or path.suffix in _WEIGHTS or _SKIP_DIRS & set(rel.parts):
            continue
        (output / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, output / rel)


def export_generator(
    source: Path, output: Path, precision: str, device: str, report: Report
) -> None:
    with tempfile.TemporaryDirectory(prefix="modelport-convert-", dir=output.parent) as tmp:
        work = Path(tmp)
        if source.is_file():
            hf_dir = work / "transformers"
            report(f"step 1/2: dequantising {source.name} with transformers")
            _gguf_to_transformers(source, hf_dir)
        else:
            hf_dir = source
            report(f"step 1/2: reading the transformers model in {source}")
        report(
            f"step 2/2: building the {precision} ONNX model for {device} with "
            "onnxruntime-genai's model builder"
        )
        command = [
            sys.executable,
            "-m",
            "onnxruntime_genai.models.builder",
            "-i",
            str(hf_dir),
            "-o",
            str(output),
            "-p",
            precision,
            "-e",
            device,
            "-c",
            str(work / "cache"),
        ]
        done = subprocess.run(command, check=False)
        if done.returncode != 0:
            raise SystemExit(f"onnxruntime-genai's model builder failed (exit {done.returncode})")
    if not (output / "genai_config.json").is_file():
        raise SystemExit("the model builder wrote no genai_config.json")


def _gguf_to_transformers(gguf: Path, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    kwargs = {"gguf_file": gguf.name, "local_files_only": True}
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **kwargs)
    model: Any = AutoModelForCausalLM.from_pretrained(
        gguf.parent, quantization_config=GgufConfig(dequantize=True), **kwargs
    )
    # Dequantised, it is a plain float model: save it as one.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)


@contextlib.contextmanager
def _quiet(logfile: Path) -> Iterator[TextIO]:
    """Send fds 1 and 2 (the libraries' prints and warnings, C code's too) to ``logfile``;
    yield a stream on the original stdout for progress lines."""
    sys.stdout.flush()
    sys.stderr.flush()
    progress = os.fdopen(os.dup(1), "w", buffering=1)
    saved = os.dup(2)
    with open(logfile, "a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield progress
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.dup2(progress.fileno(), 1)
            progress.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m modelport.backends.onnx.export_process",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("task", choices=["embed", "generate"])
    parser.add_argument(
        "source", type=Path, help="sentence-transformers folder, GGUF file or transformers folder"
    )
    parser.add_argument("output", type=Path, help="folder to write (created)")
    parser.add_argument("--precision", default="int4", choices=["int4", "fp16", "fp32"])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "dml"])
    parser.add_argument("--log", type=Path, help="file for the libraries' output")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    logfile = args.log or args.output.with_name(args.output.name + ".log")
    logfile.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with _quiet(logfile) as progress:

        def report(line: str) -> None:
            progress.write(f"{line} [{time.monotonic() - started:.0f}s]\n")

        try:
            if args.task == "embed":
                export_sentence_encoder(args.source, args.output, report)
            else:
                export_generator(args.source, args.output, args.precision, args.device, report)
        except SystemExit as exc:
            report(f"failed: {exc.code}")
            return 1
        except Exception as exc:  # noqa: BLE001 - reported to the parent, traceback in the log
            import traceback

            traceback.print_exc()
            report(f"failed: {type(exc).__name__}: {exc} (traceback in {logfile})")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
