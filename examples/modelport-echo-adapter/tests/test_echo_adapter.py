"""The echo adapter through the real ``modelport serve``: installed with pip, found
through its entry point, mounted beside the OpenAI API behind the same keys, errors,
metrics and OpenAPI document. Its model is the minimal example backend (answers
reversed), installed the same way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelport.testing.server import ServerProcess

KEY = "echo-key"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("echo")
    config = tmp / "plugins.toml"
    config.write_text(
        f'[server]\ndata_dir = "{tmp / "data"}"\napi_keys = [{{ env = "ECHO_KEY" }}]\n'
        '[[models]]\nname = "rev"\nbackend = "minimal"\n'
    )
    with ServerProcess(Path(config), env={"ECHO_KEY": KEY}) as proc:
        yield proc


def _post(server: ServerProcess, body: object, key: str | None = KEY) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(server.base_url + "/v1/echo", json=body, headers=headers, timeout=30)


def test_the_adapter_reaches_the_model(server: ServerProcess) -> None:
    resp = _post(server, {"model": "rev", "text": "hello"})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"model": "rev", "echo": "olleh"}


def test_it_shares_the_servers_keys_errors_and_metrics(server: ServerProcess) -> None:
    assert _post(server, {"model": "rev", "text": "x"}, key=None).status_code == 401
    bad = _post(server, {"model": "rev"})
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "invalid_request_error"
    missing = _post(server, {"model": "nope", "text": "x"})
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "model_not_found")
    auth = {"Authorization": f"Bearer {KEY}"}
    metrics = httpx.get(server.base_url + "/metrics", headers=auth, timeout=10).text
    assert 'modelport_requests_total{method="POST",route="/v1/echo",status="200"}' in metrics
    assert 'modelport_generated_tokens_total{model="rev"}' in metrics


def test_it_sits_beside_the_openai_api_in_one_openapi_document(server: ServerProcess) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    models = httpx.get(server.base_url + "/v1/models", headers=auth, timeout=10)
    assert [m["id"] for m in models.json()["data"]] == ["rev"]
    doc = httpx.get(server.base_url + "/schema/openapi.json", timeout=10).json()
    body = doc["paths"]["/v1/echo"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"].endswith("/EchoIn")
    assert "/v1/chat/completions" in doc["paths"]
