"""The modelport command: models, plugins, and clear errors."""

from __future__ import annotations

import sys

import pytest

from helpers import ROOT
from modelport.adapters.cli import main
from modelport.core.errors import MissingDependency
from modelport.core.registry import LoadContext


def test_models_lists_configured_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--config", str(ROOT / "plugins.toml")]) == 0
    out = capsys.readouterr().out
    assert "smollm2 (aliases: smollm2:135m)" in out
    assert "backend gguf; serves chat, complete" in out
    assert "backend sentence-transformers; serves embed" in out


def test_plugins_lists_distributions_and_backends(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "gguf: modelport 0.1.0 [ok]" in out
    assert "backend gguf: chat, complete, embed" in out
    assert "backend sentence-transformers: embed" in out


def test_config_error_is_a_clean_exit(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "plugins.toml"
    bad.write_text('[[models]]\nname = "x"\nbackend = "nope"\n')
    assert main(["models", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "models[0].backend: unknown backend 'nope'" in err
    assert "gguf" in err


def test_missing_runtime_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelport.backends.gguf import GgufOptions
    from modelport.backends.gguf.model import GgufModel

    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(MissingDependency, match=r"pip install 'modelport\[gguf\]'"):
        GgufModel.load(LoadContext(name="m", path=ROOT / "x.gguf", options=GgufOptions()))
