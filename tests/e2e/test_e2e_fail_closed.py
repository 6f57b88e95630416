"""Authentication fails closed, through the real `modelport serve` process: a configured
key whose variable is unset or empty stops start-up with a message naming it; with keys,
every route but the public ones needs the right key; `/health` can show the status only."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpers import ServerProcess

pytestmark = pytest.mark.e2e

KEY = "s3cret-key"


def _config(tmp: Path, server: str) -> Path:
    path = tmp / "plugins.toml"
    path.write_text(f'[server]\ndata_dir = "{tmp / "data"}"\n{server}')
    return path


def _serve(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`modelport serve` that is expected to refuse to start (bounded by a timeout)."""
    return subprocess.run(
        [sys.executable, "-m", "modelport.adapters.cli", "serve", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("value", [None, ""])
def test_a_key_from_an_unset_or_empty_variable_stops_start_up(
    tmp_path: Path, value: str | None
) -> None:
    config = _config(tmp_path, 'api_keys = [{ env = "MP_FAIL_CLOSED_KEY" }]\n')
    env = {k: v for k, v in os.environ.items() if k != "MP_FAIL_CLOSED_KEY"}
    if value is not None:
        env["MP_FAIL_CLOSED_KEY"] = value
    done = _serve(config, env)
    assert done.returncode == 2, done.stderr
    assert "server.api_keys[0]" in done.stderr
    assert "MP_FAIL_CLOSED_KEY is not set or empty" in done.stderr


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("keyed")
    config = _config(tmp, 'api_keys = [{ env = "MP_FAIL_CLOSED_KEY" }]\nhealth_details = false\n')
    with ServerProcess(config, env={"MP_FAIL_CLOSED_KEY": KEY}) as server:
        yield server


ROUTES = [
    ("GET", "/v1/models"),
    ("GET", "/v1/models/anything"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/completions"),
    ("POST", "/v1/embeddings"),
    ("POST", "/v1/images/generations"),
    ("POST", "/v1/responses"),
    ("GET", "/v1/responses/resp_x"),
    ("DELETE", "/v1/responses/resp_x"),
    ("POST", "/v1/rerank"),
    ("POST", "/rerank"),
    ("POST", "/tokenize"),
    ("POST", "/v1/detokenize"),
    ("POST", "/v1/messages"),
    ("POST", "/v1/messages/count_tokens"),
    ("GET", "/metrics"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_the_right_key(keyed: ServerProcess, method: str, path: str) -> None:
    url = keyed.base_url + path
    body = {"model": "none", "messages": [], "input": "x", "prompt": "x"}
    json = body if method == "POST" else None
    wrong = ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}, {"x-api-key": "no"})
    for headers in wrong:
        resp = httpx.request(method, url, headers=headers, json=json, timeout=10)
        assert resp.status_code == 401, (headers, resp.text)
        error = resp.json()["error"]
        if path.startswith("/v1/messages"):  # Anthropic's envelope
            assert resp.json()["type"] == "error" and error["type"] == "authentication_error"
        else:
            assert (error["type"], error["code"]) == ("authentication_error", "invalid_api_key")
    for headers in ({"Authorization": f"Bearer {KEY}"}, {"x-api-key": KEY}):
        resp = httpx.request(method, url, headers=headers, json=json, timeout=10)
        assert resp.status_code != 401, resp.text


def test_health_stays_public_and_shows_only_the_status(keyed: ServerProcess) -> None:
    resp = httpx.get(keyed.base_url + "/health", timeout=10)
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}


def test_start_up_says_that_auth_is_on_and_which_routes_are_public(keyed: ServerProcess) -> None:
    log = keyed.log.read_text()
    assert "authentication is on (1 API key); public routes: /health, /schema/*" in log
    assert "/health shows the status only" in log
    assert KEY not in log


def test_an_empty_key_list_runs_without_auth_and_says_so(tmp_path: Path) -> None:
    with ServerProcess(_config(tmp_path, "api_keys = []\n")) as server:
        assert httpx.get(server.base_url + "/v1/models", timeout=10).status_code == 200
        health = httpx.get(server.base_url + "/health", timeout=10).json()
        assert health == {"status": "ok", "models": {}}
        assert "authentication is off" in server.log.read_text()
