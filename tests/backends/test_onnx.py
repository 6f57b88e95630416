"""The onnx backend's pure parts: sentence-transformers config, pooling, providers, options,
and the conversion cache (the real models run in tests/e2e/test_e2e_runtime_swap.py)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from modelport.backends.onnx import OnnxOptions, twins
from modelport.backends.onnx.providers import CPU, choose_providers, genai_device
from modelport.backends.onnx.sentence_config import SentenceConfig, normalized, pool
from modelport.core import LoadContext, MissingDependency
from modelport.core.config import decode_options
from modelport.core.errors import BackendError, ConfigError

ALL = ["CUDAExecutionProvider", "DmlExecutionProvider", CPU]


def _sentence_folder(tmp_path: Path, modules: list[str], pooling: dict[str, object]) -> Path:
    entries = [
        {
            "idx": i,
            "name": str(i),
            "path": f"{i}_{m}" if m != "Transformer" else "",
            "type": f"sentence_transformers.models.{m}",
        }
        for i, m in enumerate(modules)
    ]
    (tmp_path / "modules.json").write_text(json.dumps(entries))
    for entry in entries:
        if entry["type"].endswith("Pooling"):
            (tmp_path / entry["path"]).mkdir()
            (tmp_path / entry["path"] / "config.json").write_text(json.dumps(pooling))
    (tmp_path / "sentence_bert_config.json").write_text('{"max_seq_length": 128}')
    return tmp_path


def test_sentence_config_reads_pooling_and_normalisation(tmp_path: Path) -> None:
    folder = _sentence_folder(
        tmp_path,
        ["Transformer", "Pooling", "Normalize"],
        {"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False},
    )
    config = SentenceConfig.read(folder)
    assert (config.pooling, config.normalize, config.max_seq_length) == ("mean", True, 128)
    assert config.found


def test_sentence_config_cls_without_normalize_and_named_modes(tmp_path: Path) -> None:
    folder = _sentence_folder(tmp_path, ["Transformer", "Pooling"], {"pooling_mode": "cls"})
    config = SentenceConfig.read(folder)
    assert (config.pooling, config.normalize) == ("cls", False)


def test_sentence_config_refuses_what_it_cannot_reproduce(tmp_path: Path) -> None:
    folder = _sentence_folder(
        tmp_path, ["Transformer", "Pooling", "Dense"], {"pooling_mode_mean_tokens": True}
    )
    with pytest.raises(ConfigError, match="'Dense'"):
        SentenceConfig.read(folder)


def test_sentence_config_without_files_is_mean_and_normalised(tmp_path: Path) -> None:
    config = SentenceConfig.read(tmp_path)
    assert (config.pooling, config.normalize, config.found) == ("mean", True, False)


def test_pooling_ignores_padding() -> None:
    hidden = np.array(
        [[[1.0, 2.0], [3.0, 4.0], [100.0, -100.0]], [[5.0, 6.0], [7.0, 9.0], [9.0, 2.0]]],
        dtype=np.float32,
    )
    mask = np.array([[1, 1, 0], [1, 1, 1]])
    assert np.allclose(pool(hidden, mask, "mean"), [[2.0, 3.0], [7.0, 17 / 3]])
    assert np.allclose(pool(hidden, mask, "cls"), [[1.0, 2.0], [5.0, 6.0]])
    assert np.allclose(pool(hidden, mask, "max"), [[3.0, 4.0], [9.0, 9.0]])
    assert np.allclose(pool(hidden, mask, "lasttoken"), [[3.0, 4.0], [9.0, 2.0]])
    assert np.allclose(
        pool(hidden, mask, "mean_sqrt_len"), [[4 / 2**0.5, 6 / 2**0.5], [21 / 3**0.5, 17 / 3**0.5]]
    )
    assert np.allclose(np.linalg.norm(normalized(pool(hidden, mask, "mean")), axis=1), 1.0)


def test_missing_gpu_provider_falls_back_to_cpu_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, "modelport.backends.onnx"):
        chosen = choose_providers(["CUDAExecutionProvider", CPU], [CPU], ALL, model="m")
    assert chosen == [CPU]
    assert "CUDAExecutionProvider not available" in caplog.text
    assert "modelport[onnx-gpu]" in caplog.text
    gpu = choose_providers(
        ["CUDAExecutionProvider"], ["CUDAExecutionProvider", CPU], ALL, model="m"
    )
    assert gpu == ["CUDAExecutionProvider", CPU]


def test_unknown_provider_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="CUDAExecutionProvidr") as info:
        choose_providers(["CUDAExecutionProvidr"], [CPU], ALL, model="m")
    assert info.value.param == "options.providers"


def test_genai_device(caplog: pytest.LogCaptureFixture) -> None:
    wanted = ["CUDAExecutionProvider", CPU]
    assert genai_device(wanted, {"cuda": True}, model="m") == "cuda"
    with caplog.at_level(logging.WARNING, "modelport.backends.onnx"):
        assert genai_device(wanted, {"cuda": False}, model="m") == "cpu"
    assert "CUDAExecutionProvider" in caplog.text
    assert genai_device([CPU, "CUDAExecutionProvider"], {"cuda": True}, model="m") == "cpu"


def test_options_need_a_task() -> None:
    with pytest.raises(ConfigError, match=r"models\[2\]\.options.*task"):
        decode_options({"convert": True}, OnnxOptions, index=2)
    options = decode_options({"task": "embed", "providers": [CPU]}, OnnxOptions, index=0)
    assert options.providers == (CPU,)


def test_missing_runtime_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelport.backends.onnx import providers

    monkeypatch.setitem(sys.modules, "onnxruntime_genai", None)
    with pytest.raises(MissingDependency, match=r"pip install 'modelport\[onnx\]'"):
        providers.import_genai()


# --- the conversion cache -------------------------------------------------------------


def _context(tmp_path: Path, source: Path, **options: object) -> LoadContext:
    decoded = OnnxOptions(task="generate", convert=True, **options)  # type: ignore[arg-type]
    return LoadContext(name="twin", path=source, options=decoded, cache_dir=tmp_path / "cache")


def test_twin_path_follows_source_and_settings(tmp_path: Path) -> None:
    source = tmp_path / "model.gguf"
    source.write_bytes(b"weights")
    first = twins.twin_path(_context(tmp_path, source), "cpu")
    assert first == twins.twin_path(_context(tmp_path, source), "cpu")
    assert first.parent == tmp_path / "cache" / "onnx"
    assert first.name.startswith("model-generate-int4-cpu-")
    assert twins.twin_path(_context(tmp_path, source, precision="fp32"), "cpu") != first
    assert twins.twin_path(_context(tmp_path, source), "cuda") != first
    source.write_bytes(b"other weights")
    assert twins.twin_path(_context(tmp_path, source), "cpu") != first


def test_a_converted_twin_is_reused_without_converting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "model.gguf"
    source.write_bytes(b"weights")
    ctx = _context(tmp_path, source)
    twin = twins.twin_path(ctx, "cpu")
    twin.mkdir(parents=True)
    (twin / twins.DONE).write_text("{}")

    def no_conversion(*_: object) -> None:
        raise AssertionError("converted again")

    monkeypatch.setattr(twins, "_convert", no_conversion)
    assert twins.ensure_twin(ctx, "cpu") == twin
    assert twins.model_folder(ctx, "cpu") == twin


def test_a_failed_conversion_leaves_no_twin_and_names_its_log(tmp_path: Path) -> None:
    source = tmp_path / "not-a-model.gguf"
    source.write_bytes(b"not a GGUF file")
    ctx = _context(tmp_path, source)
    with pytest.raises(BackendError, match=r"failed .*see .*\.log"):
        twins.ensure_twin(ctx, "cpu")
    twin = twins.twin_path(ctx, "cpu")
    assert not twin.exists()
    assert not list(twin.parent.glob(".*partial*"))
    assert twin.with_name(twin.name + ".log").is_file()


def test_prepare_does_nothing_for_models_that_need_no_conversion(tmp_path: Path) -> None:
    options = OnnxOptions(task="embed")
    ctx = LoadContext(name="m", path=tmp_path, options=options, cache_dir=tmp_path)
    assert twins.prepare(ctx) is None
