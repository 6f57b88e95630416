"""``modelport convert``: which models it prepares, and that a cached twin is not redone."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.adapters.cli import main
from modelport.backends.onnx import OnnxOptions, twins
from modelport.core.registry import LoadContext


def _config(tmp_path: Path, source: Path, convert: bool) -> Path:
    config = tmp_path / "plugins.toml"
    config.write_text(
        f'[server]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[[models]]\nname = "twin"\nbackend = "onnx"\nsource = "{source}"\n'
        f'[models.options]\ntask = "generate"\nconvert = {str(convert).lower()}\n'
        'providers = ["CPUExecutionProvider"]\n'
    )
    return config


def test_convert_skips_models_that_need_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, tmp_path, convert=False)
    assert main(["convert", "--config", str(config)]) == 0
    assert "twin: nothing to convert (backend onnx)" in capsys.readouterr().err
    assert not (tmp_path / "data" / "models" / "onnx").exists()


def test_convert_finds_a_cached_twin_ready(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "model.gguf"
    source.write_bytes(b"weights")
    config = _config(tmp_path, source, convert=True)
    options = OnnxOptions(task="generate", convert=True, providers=("CPUExecutionProvider",))
    ctx = LoadContext(
        name="twin", path=source, options=options, cache_dir=tmp_path / "data" / "models"
    )
    twin = twins.twin_path(ctx, "cpu")
    twin.mkdir(parents=True)
    (twin / twins.DONE).write_text("{}")
    assert main(["convert", "--config", str(config)]) == 0
    assert f"twin: ready at {twin}" in capsys.readouterr().err
