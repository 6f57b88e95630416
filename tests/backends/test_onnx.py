"""The onnx backend's pure parts: sentence-transformers config, pooling, providers, options,
the conversion cache and the int8 copy (the real models run in
tests/e2e/test_e2e_runtime_swap.py)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest

import modelport.backends.onnx as onnx_backend
from modelport.backends.onnx import OnnxOptions, quantized, twins
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


# --- the int8 copy ----------------------------------------------------------------------


def _matmul_model(path: Path, seed: int = 0) -> None:
    """A one-MatMul ONNX model (x @ W, W 64 x 32): what dynamic quantization rewrites."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(seed).standard_normal((64, 32)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 32])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def test_an_int8_copy_is_made_once_and_computes_what_the_float_model_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onnx
    import onnxruntime

    source = tmp_path / "model" / "model.onnx"
    source.parent.mkdir()
    _matmul_model(source)
    ctx = LoadContext(
        name="m", path=source.parent, options=OnnxOptions(task="embed"), cache_dir=tmp_path / "c"
    )
    copy = quantized.int8_copy(source, ctx)
    assert copy.parent == tmp_path / "c" / "onnx" and "-int8-" in copy.name
    ops = {node.op_type for node in onnx.load(copy).graph.node}
    assert "MatMul" not in ops and ops & {"MatMulInteger", "DynamicQuantizeLinear"}
    assert not list(copy.parent.glob(".*partial*"))
    x = np.random.default_rng(1).standard_normal((4, 64)).astype(np.float32)
    exact = onnxruntime.InferenceSession(str(source)).run(None, {"x": x})[0]
    approx = onnxruntime.InferenceSession(str(copy)).run(None, {"x": x})[0]
    cosine = (
        (exact * approx).sum(1) / np.linalg.norm(exact, axis=1) / np.linalg.norm(approx, axis=1)
    )
    assert cosine.min() > 0.99

    def no_quantizing(*_: object, **__: object) -> None:
        raise AssertionError("quantized again")

    import onnxruntime.quantization

    monkeypatch.setattr(onnxruntime.quantization, "quantize_dynamic", no_quantizing)
    assert quantized.int8_copy(source, ctx) == copy  # (cached)
    _matmul_model(source, seed=2)  # a changed model is a new copy
    with pytest.raises(AssertionError, match="quantized again"):
        quantized.int8_copy(source, ctx)


def test_quantize_is_for_embedding_models() -> None:
    ctx = LoadContext(
        name="m", path=Path("."), options=OnnxOptions(task="generate", quantize="int8")
    )
    with pytest.raises(ConfigError, match="quantize applies to embedding models"):
        onnx_backend._load(ctx)


def test_a_matmul_after_a_gelu_stays_in_float(tmp_path: Path) -> None:
    """GELU spelled out (x * 0.5 * (1 + erf(x / sqrt 2))), as exporters write it, then two
    MatMuls: the one it feeds is left out of quantization, the one on the input is not."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((16, 16)).astype(np.float32)
    w2 = rng.standard_normal((16, 8)).astype(np.float32)
    constants = {"w1": w1, "w2": w2, "root2": np.float32(2**0.5), "one": np.float32(1.0)}
    constants["half"] = np.float32(0.5)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="first"),
        helper.make_node("Div", ["h", "root2"], ["scaled"]),
        helper.make_node("Erf", ["scaled"], ["erf"]),
        helper.make_node("Add", ["erf", "one"], ["shifted"]),
        helper.make_node("Mul", ["h", "shifted"], ["gated"]),
        helper.make_node("Mul", ["gated", "half"], ["gelu"]),
        helper.make_node("MatMul", ["gelu", "w2"], ["y"], name="after_gelu"),
    ]
    graph = helper.make_graph(
        nodes,
        "gelu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 8])],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in constants.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    source = tmp_path / "m" / "model.onnx"
    source.parent.mkdir()
    onnx.save(model, source)
    assert quantized._after_gelu(source) == ["after_gelu"]
    ctx = LoadContext(
        name="m", path=source.parent, options=OnnxOptions(task="embed"), cache_dir=tmp_path
    )
    kept = [n.name for n in onnx.load(quantized.int8_copy(source, ctx)).graph.node]
    assert "after_gelu" in kept and "first" not in kept


def test_convert_makes_the_int8_copy_ahead_of_loading(tmp_path: Path) -> None:
    """``modelport convert`` (the backend's prepare step) makes the int8 copy that loading
    then finds, for a folder that is ONNX already."""
    source = tmp_path / "model" / "model.onnx"
    source.parent.mkdir()
    _matmul_model(source)
    options = OnnxOptions(task="embed", quantize="int8")
    ctx = LoadContext(name="m", path=source.parent, options=options, cache_dir=tmp_path / "c")
    copy = onnx_backend._prepare(ctx)
    assert copy is not None and copy.is_file()
    assert quantized.int8_copy(source, ctx) == copy
