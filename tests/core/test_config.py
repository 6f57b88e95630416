from __future__ import annotations

from pathlib import Path

import pytest

from helpers import ROOT
from modelport.backends.gguf import GgufOptions
from modelport.core.config import decode_config, decode_options, load_config, parse_duration
from modelport.core.errors import ConfigError


def test_repository_config_decodes() -> None:
    config = load_config(ROOT / "plugins.toml")
    names = [m.name for m in config.models]
    assert names == [
        "smollm2",
        "all-minilm",
        "smollm2-onnx",
        "all-minilm-onnx",
        "all-minilm-onnx-int8",
    ]
    assert config.models[0].aliases == ["smollm2:135m"]
    assert Path(config.base_dir) == ROOT


@pytest.mark.parametrize(
    ("toml", "path", "fragment"),
    [
        ("[server]\nprot = 1\n", "server", "unknown field `prot`"),
        ("[server]\nport = 70000\n", "server.port", "<= 65535"),
        (
            '[server]\nlog_level = "loud"\n',
            "server.log_level",
            "allowed: debug, error, info, warning",
        ),
        (
            '[[models]]\nname = "a"\nbackend = "gguf"\nload = "soon"\n',
            "models[0].load",
            "allowed: eager, lazy",
        ),
        ('[[models]]\nbackend = "gguf"\n', "models[0]", "missing required field `name`"),
        (
            '[[models]]\nname = "a"\nbackend = "x"\n[models.defaults]\ntemperature = 9\n',
            "models[0].defaults.temperature",
            "<= 2",
        ),
        (
            '[[models]]\nname = "a"\nbackend = "x"\n[[models]]\nname = "b"\nbackend = "x"\n'
            'aliases = ["a"]\n',
            "models[1].aliases[0]",
            "already used at models[0].name",
        ),
        (
            '[[models]]\nname = "a"\nbackend = "x"\nkeep_alive = "soon"\n',
            "models[0].keep_alive",
            "matching regex",
        ),
    ],
)
def test_errors_name_the_toml_path(toml: str, path: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        decode_config(toml)
    assert info.value.param == path
    assert path in info.value.message
    assert fragment in info.value.message


def test_not_toml() -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        decode_config("[server\n")


def test_backend_options_decoded_strictly() -> None:
    opts = decode_options({"n_ctx": 1024}, GgufOptions, index=2)
    assert opts.n_ctx == 1024
    with pytest.raises(ConfigError) as info:
        decode_options({"n_ctxx": 1024}, GgufOptions, index=2)
    assert info.value.param == "models[2].options"
    assert "unknown field `n_ctxx`" in info.value.message
    with pytest.raises(ConfigError) as info:
        decode_options({"n_ctx": "big"}, GgufOptions, index=0)
    assert info.value.param == "models[0].options.n_ctx"


def test_durations() -> None:
    assert parse_duration("5m") == 300
    assert parse_duration("1.5h") == 5400
    assert parse_duration(30) == 30
    assert parse_duration("-1") is None
    assert parse_duration(-1) is None


def test_api_keys_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    config = decode_config('[server]\napi_keys = ["literal", { env = "MP_TEST_KEY" }]\n')
    monkeypatch.setenv("MP_TEST_KEY", "secret")
    assert config.server.resolved_api_keys() == ["literal", "secret"]


@pytest.mark.parametrize("value", [None, ""])
def test_a_key_whose_variable_is_unset_or_empty_fails_closed(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    config = decode_config('[server]\napi_keys = ["literal", { env = "MP_TEST_KEY" }]\n')
    if value is None:
        monkeypatch.delenv("MP_TEST_KEY", raising=False)
    else:
        monkeypatch.setenv("MP_TEST_KEY", value)
    with pytest.raises(ConfigError) as info:
        config.server.resolved_api_keys()
    assert info.value.param == "server.api_keys[1]"
    assert "MP_TEST_KEY" in info.value.message and "not set or empty" in info.value.message


def test_no_keys_means_no_auth_and_an_empty_literal_is_refused() -> None:
    assert decode_config("").server.resolved_api_keys() == []
    assert decode_config("[server]\napi_keys = []\n").server.resolved_api_keys() == []
    with pytest.raises(ConfigError, match=r"server.api_keys\[0\]: an API key cannot be empty"):
        decode_config('[server]\napi_keys = ["  "]\n').server.resolved_api_keys()
    with pytest.raises(ConfigError, match=r"server.api_keys\[0\].env"):
        decode_config('[server]\napi_keys = [{ env = "" }]\n')


@pytest.mark.parametrize("key", ["header_timeout", "idle_timeout"])
@pytest.mark.parametrize("value", ['"-1"', "0", '"0s"'])
def test_connection_timeouts_cannot_be_switched_off(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=rf"server\.{key}: must be a positive duration"):
        decode_config(f"[server]\n{key} = {value}\n")
    server = decode_config(f'[server]\n{key} = "2.5s"\n').server
    assert getattr(server, key.replace("timeout", "seconds"))() == 2.5


def test_batching_config_defaults_and_errors() -> None:
    model = decode_config('[[models]]\nname = "m"\nbackend = "x"\n').models[0]
    assert model.batching.enabled
    assert model.batching.window_seconds() == 0.005
    assert model.batching.max_inputs == 64
    tuned = decode_config(
        '[[models]]\nname = "m"\nbackend = "x"\n[models.batching]\nwindow = "20ms"\n'
    ).models[0]
    assert tuned.batching.window_seconds() == pytest.approx(0.02)
    with pytest.raises(ConfigError) as info:
        decode_config('[[models]]\nname = "m"\nbackend = "x"\n[models.batching]\nsize = 8\n')
    assert info.value.param == "models[0].batching"
