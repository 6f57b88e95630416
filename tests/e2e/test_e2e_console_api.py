"""The console's files and actions over HTTP (the browser flows are in test_e2e_console.py):
what is served, who may see it, and loading and unloading models."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpers import ServerProcess, smollm2_config

pytestmark = pytest.mark.e2e

KEY = "console-api-key"


def test_the_page_and_its_files(base_url: str) -> None:
    page = httpx.get(base_url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    files = {
        "console.js": "text/javascript",
        "uPlot.iife.min.js": "text/javascript",
        "console.css": "text/css",
        "uPlot-LICENSE.txt": "text/plain",
    }
    for name, kind in files.items():
        answer = httpx.get(f"{base_url}/console/{name}")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(kind)
        assert f"/console/{name}" in page.text or name.endswith(".txt")
    missing = httpx.get(base_url + "/console/secrets.txt")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert httpx.get(base_url + "/console/..%2Fapp.py").status_code == 404


def test_models_show_what_the_console_lists(base_url: str) -> None:
    models = {m["id"]: m for m in httpx.get(base_url + "/v1/models").json()["data"]}
    smollm2 = models["smollm2"]["capabilities"]
    assert smollm2["load"] == "eager" and smollm2["state"] == "loaded"
    assert smollm2["error"] is None and smollm2["active"] == 0 and smollm2["queued"] == 0
    assert models["all-minilm-onnx"]["capabilities"]["load"] == "lazy"


def test_the_metrics_history_keeps_the_last_minutes(base_url: str) -> None:
    """Samples of a few cumulative totals every 5 s (the console's charts): they never
    go back, and they count this server's requests."""
    samples = httpx.get(base_url + "/metrics/history").json()["samples"]
    deadline = time.monotonic() + 15
    while len(samples) < 2 and time.monotonic() < deadline:
        time.sleep(1)
        samples = httpx.get(base_url + "/metrics/history").json()["samples"]
    assert len(samples) >= 2
    assert set(samples[-1]) == {
        "time", "requests", "tokens", "queued", "active", "ttft_sum", "ttft_count",
    }  # fmt: skip
    for a, b in itertools.pairwise(samples):
        assert b["time"] > a["time"] and b["requests"] >= a["requests"]
    assert samples[-1]["requests"] > 0


def test_load_and_unload(base_url: str) -> None:
    def act(action: str, model: str) -> httpx.Response:
        return httpx.post(f"{base_url}/console/models/{action}", json={"model": model}, timeout=300)

    loaded = act("load", "all-minilm-onnx")
    assert loaded.status_code == 200 and loaded.json()["state"] == "loaded"
    unloaded = act("unload", "all-minilm-onnx")
    assert unloaded.status_code == 200 and unloaded.json()["state"] == "unloaded"
    assert act("unload", "all-minilm-onnx").json()["state"] == "unloaded"  # (idempotent)
    # it loads again on its next use
    embedded = httpx.post(
        base_url + "/v1/embeddings", json={"model": "all-minilm-onnx", "input": "hi"}, timeout=300
    )
    assert embedded.status_code == 200
    pinned = act("unload", "smollm2")
    assert pinned.status_code == 400
    assert pinned.json()["error"] | {"message": ""} == {
        "message": "",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_pinned",
    }
    unknown = act("load", "no-such-model")
    assert unknown.status_code == 404 and unknown.json()["error"]["param"] == "model"
    bad = httpx.post(f"{base_url}/console/models/load", json={"model": "smollm2", "now": 1})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "now"


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """API keys, a console that is not public, and no load/unload routes."""
    tmp: Path = tmp_path_factory.mktemp("console-private")
    config = smollm2_config(tmp, options="n_ctx = 512\n")
    config.write_text(
        config.read_text().replace(
            "[server]\n",
            '[server]\napi_keys = [{ env = "MP_CONSOLE_KEY" }]\nmodel_control = false\n',
            1,
        )
    )
    with ServerProcess(config, env={"MP_CONSOLE_KEY": KEY}) as proc:
        yield proc


def test_a_private_console_asks_the_browser_for_the_key(private: ServerProcess) -> None:
    """Without ``public_console`` the page needs the key: a browser is asked for it (HTTP
    Basic: any user name, the key as password), and then the page's own API calls carry
    the same credentials."""
    for path in ("/", "/console/console.js"):
        refused = httpx.get(private.base_url + path)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith('Basic realm="modelport"')
        assert refused.json()["error"]["type"] == "authentication_error"
        assert httpx.get(private.base_url + path, auth=("me", "wrong")).status_code == 401
        assert httpx.get(private.base_url + path, auth=("me", KEY)).status_code == 200
    api = httpx.get(private.base_url + "/v1/models")
    assert api.status_code == 401 and "www-authenticate" not in api.headers  # (an API answer)
    assert httpx.get(private.base_url + "/v1/models", auth=("me", KEY)).status_code == 200
    headers = {"Authorization": f"Bearer {KEY}"}
    control = httpx.post(
        private.base_url + "/console/models/unload", json={"model": "smollm2"}, headers=headers
    )
    assert control.status_code in (404, 405)  # model_control = false: no such routes


def test_the_console_can_be_turned_off(tmp_path: Path) -> None:
    config = smollm2_config(tmp_path, options="n_ctx = 512\n")
    config.write_text(config.read_text().replace("[server]\n", "[server]\nconsole = false\n", 1))
    with ServerProcess(config) as server:
        assert httpx.get(server.base_url + "/").status_code == 404
        assert httpx.get(server.base_url + "/console/console.js").status_code == 404
        assert httpx.get(server.base_url + "/v1/models").status_code == 200
