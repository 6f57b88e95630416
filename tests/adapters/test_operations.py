"""Operations: /metrics, request ids and structured logs, graceful shutdown on SIGTERM."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from litestar.testing import TestClient

from helpers import ROOT, free_port
from modelport.adapters.openai.app import create_app
from modelport.adapters.openai.logs import JsonFormatter, RequestIdFilter
from modelport.core.config import decode_config
from modelport.core.plugins import load_plugins
from modelport.testing.fake import FakePlugin

CONFIG = """
[[models]]
name = "fake"
backend = "fake"
load = "eager"
"""
MSG = [{"role": "user", "content": "one two three"}]


def _app(config: str = CONFIG):  # type: ignore[no-untyped-def]
    plugins = load_plugins(entry_points=False, extra=[("fake", FakePlugin())])
    plugins.collect_backends()
    return create_app(decode_config(config), plugins)


@pytest.fixture
def http() -> Iterator[TestClient]:
    with TestClient(_app()) as client:
        yield client


def _sample(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(p in line for p in want.split(",")):
            return float(line.rsplit(" ", 1)[1])
        if line.startswith(f"{name} ") and not labels:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{{{want}}} not in /metrics")


def test_metrics_count_requests_tokens_latency_and_models(http: TestClient) -> None:
    http.post("/v1/chat/completions", json={"model": "fake", "messages": MSG})
    http.post("/v1/chat/completions", json={"model": "fake", "messages": MSG, "stream": True})
    http.post("/v1/embeddings", json={"model": "fake", "input": "a b"})
    http.post("/v1/chat/completions", json={"model": "nope", "messages": MSG})
    http.get("/v1/no-such-route")
    resp = http.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    route = {"route": "/v1/chat/completions", "method": "POST"}
    assert _sample(text, "modelport_requests_total", **route, status="200") == 2
    assert _sample(text, "modelport_requests_total", **route, status="404") == 1
    assert _sample(text, "modelport_requests_total", route="unmatched", status="404") == 1
    assert _sample(text, "modelport_generated_tokens_total", model="fake") == 6
    assert _sample(text, "modelport_time_to_first_token_seconds_count", model="fake") == 2
    assert _sample(text, "modelport_request_duration_seconds_count", route="/v1/embeddings") == 1
    assert _sample(text, "modelport_queue_depth", model="fake") == 0
    assert _sample(text, "modelport_model_loaded", model="fake", backend="fake") == 1


def test_metrics_need_the_key_unless_public(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MP_KEY", "sesame")
    keyed = '[server]\napi_keys = [{ env = "MP_KEY" }]\n' + CONFIG
    with TestClient(_app(keyed)) as http:
        assert http.get("/metrics").status_code == 401
        ok = http.get("/metrics", headers={"Authorization": "Bearer sesame"})
        assert ok.status_code == 200
    public = keyed.replace("[server]\n", "[server]\npublic_metrics = true\n")
    with TestClient(_app(public)) as http:
        assert http.get("/metrics").status_code == 200
        assert http.get("/v1/models").status_code == 401


def test_replicas_answer_metrics_for_all_of_them(monkeypatch: pytest.MonkeyPatch) -> None:
    # two replicas of the app (as on Ray) sharing a hub: whichever answers /metrics
    # reports both; once one is gone its gauges go and its totals stay
    import modelport.adapters.ray_serve as ray_serve

    hub = ray_serve.MetricsHub()

    def replica(name: str) -> TestClient:
        async def gather(snapshot: bytes) -> bytes:
            return hub.merged(name, snapshot)

        plugins = load_plugins(entry_points=False, extra=[("fake", FakePlugin())])
        plugins.collect_backends()
        return TestClient(create_app(decode_config(CONFIG), plugins, gather_metrics=gather))

    with replica("a") as a, replica("b") as b:
        for http, times in ((a, 2), (b, 3)):
            for _ in range(times):
                http.post("/v1/chat/completions", json={"model": "fake", "messages": MSG})
        b.get("/metrics")  # (b's snapshot reaches the hub)
        text = a.get("/metrics").text
        route = {"route": "/v1/chat/completions", "method": "POST", "status": "200"}
        assert _sample(text, "modelport_requests_total", **route) == 5
        assert _sample(text, "modelport_generated_tokens_total", model="fake") == 15
        assert _sample(text, "modelport_time_to_first_token_seconds_count", model="fake") == 5
        assert _sample(text, "modelport_model_loaded", model="fake", backend="fake") == 1
        assert "_created" not in text
        now = time.monotonic()
        monkeypatch.setattr(time, "monotonic", lambda: now + 10 * ray_serve.PUSH_INTERVAL_S)
        hub.push("b", hub.snapshots["b"][1])  # b still pushes; a has gone silent
        text = b.get("/metrics").text
        assert _sample(text, "modelport_requests_total", **route) == 5  # (a's still count)
        assert _sample(text, "modelport_model_loaded", model="fake", backend="fake") == 1


def test_request_id_in_and_out(http: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="modelport.access")
    resp = http.get("/v1/models", headers={"X-Request-Id": "trace-42"})
    assert resp.headers["x-request-id"] == "trace-42"
    made = http.get("/v1/models").headers["x-request-id"]
    assert len(made) == 32 and made != "trace-42"
    # An id that is not a short token is replaced, never echoed.
    odd = http.get("/v1/models", headers={"X-Request-Id": "a" * 500}).headers["x-request-id"]
    assert odd != "a" * 500
    err = http.post("/v1/chat/completions", json={"model": "nope", "messages": MSG})
    assert err.headers["x-request-id"]
    lines = [r for r in caplog.records if r.name == "modelport.access"]
    assert any(getattr(r, "route", None) == "/v1/models" for r in lines)


def test_cors_exposes_the_request_id() -> None:
    config = '[server]\ncors_origins = ["http://app.example"]\n' + CONFIG
    with TestClient(_app(config)) as http:
        resp = http.get("/v1/models", headers={"Origin": "http://app.example"})
        exposed = resp.headers["access-control-expose-headers"].lower()
        assert "x-request-id" in exposed and "retry-after" in exposed


def test_json_log_lines_carry_the_request_id() -> None:
    from modelport.adapters.openai.logs import REQUEST_ID

    record = logging.makeLogRecord(
        {"name": "modelport.access", "levelname": "INFO", "msg": "GET / %d", "args": (200,)}
    )
    record.status = 200
    token = REQUEST_ID.set("req-7")
    try:
        RequestIdFilter().filter(record)
    finally:
        REQUEST_ID.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-7"
    assert line["message"] == "GET / 200" and line["status"] == 200


# --- graceful shutdown ----------------------------------------------------------------

LAUNCH = textwrap.dedent(
    """
    import sys
    from modelport.adapters.cli import serve
    from modelport.adapters.openai.app import create_app
    from modelport.adapters.openai.logs import configure_logging
    from modelport.core.config import decode_config
    from modelport.core.plugins import load_plugins
    from modelport.testing.fake import FakePlugin

    config = decode_config(sys.argv[2])
    configure_logging("info", "json")
    plugins = load_plugins(entry_points=False, extra=[("fake", FakePlugin())])
    plugins.collect_backends()
    serve(create_app(config, plugins), config, "127.0.0.1", int(sys.argv[1]))
    """
)


class _FakeServer:
    def __init__(self, tmp: Path, shutdown_timeout: str, delay: float):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = (
            f'[server]\nshutdown_timeout = "{shutdown_timeout}"\n'
            f'[[models]]\nname = "fake"\nbackend = "fake"\nload = "eager"\n'
            f"[models.options]\ndelay = {delay}\n"
        )
        self.log = tmp / "server.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", LAUNCH, str(self.port), config],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("server did not start: " + self.log.read_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def _stream(url: str, words: int) -> Iterator[str]:
    body = {
        "model": "fake",
        "stream": True,
        "messages": [{"role": "user", "content": "w " * words}],
    }
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=60) as resp:
        assert resp.status_code == 200
        try:
            yield from resp.iter_lines()
        except httpx.HTTPError:  # the server cut the stream at its shutdown deadline
            return


def test_sigterm_cancels_a_long_stream_within_the_timeout(tmp_path: Path) -> None:
    server = _FakeServer(tmp_path, shutdown_timeout="1s", delay=0.1)  # 300 words: 30 s
    try:
        lines = _stream(server.url, 300)
        assert next(line for line in lines if line.startswith("data: "))
        started = time.monotonic()
        os.kill(server.proc.pid, signal.SIGTERM)
        rest = list(lines)
        assert "data: [DONE]" not in rest  # cancelled, not finished
        server.proc.wait(timeout=10)
        took = time.monotonic() - started
        assert took < 5, took
        log = server.log.read_text()
        assert "unloaded model 'fake'" in log, log[-2000:]
    finally:
        server.stop()


def test_sigterm_lets_a_short_stream_finish(tmp_path: Path) -> None:
    server = _FakeServer(tmp_path, shutdown_timeout="5s", delay=0.05)  # 20 words: 1 s
    try:
        lines = _stream(server.url, 20)
        assert next(line for line in lines if line.startswith("data: "))
        os.kill(server.proc.pid, signal.SIGTERM)
        rest = list(lines)
        assert rest[-1] == "data: [DONE]" or rest[-2:] == ["data: [DONE]", ""], rest[-3:]
        server.proc.wait(timeout=10)
        # uvicorn re-raises the signal it caught once shut down: "killed by SIGTERM".
        assert server.proc.returncode in (0, -signal.SIGTERM)
        assert "unloaded model 'fake'" in server.log.read_text()
        # Stopped accepting: a new connection is refused.
        with pytest.raises(httpx.ConnectError):
            httpx.get(server.url + "/health", timeout=1)
    finally:
        server.stop()


ENDPOINTS = {
    "chat": ("/v1/chat/completions", {"model": "fake", "messages": MSG}),
    "chat streamed": ("/v1/chat/completions", {"model": "fake", "messages": MSG, "stream": True}),
    "chat n=2": ("/v1/chat/completions", {"model": "fake", "messages": MSG, "n": 2}),
    "completions": ("/v1/completions", {"model": "fake", "prompt": "one two three"}),
    "responses": ("/v1/responses", {"model": "fake", "input": "one two three", "store": False}),
    "responses streamed": (
        "/v1/responses",
        {"model": "fake", "input": "one two three", "store": False, "stream": True},
    ),
}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_generation_endpoint_is_metered(http: TestClient, endpoint: str) -> None:
    """Time to first token, generated and prompt tokens move for every endpoint that
    generates, through the one place the service reports them."""
    path, body = ENDPOINTS[endpoint]
    choices = body.get("n", 1)
    assert http.post(path, json=body).status_code == 200
    text = http.get("/metrics").text
    assert _sample(text, "modelport_time_to_first_token_seconds_count", model="fake") == choices
    assert _sample(text, "modelport_generated_tokens_total", model="fake") == 3 * choices
    assert _sample(text, "modelport_prompt_tokens_total", model="fake") > 0


def test_embeddings_and_images_are_metered(tmp_path: Path) -> None:
    from test_images_adapter import SolidPlugin

    plugins = load_plugins(
        entry_points=False, extra=[("solid", SolidPlugin()), ("fake", FakePlugin())]
    )
    plugins.collect_backends()
    solid = '[[models]]\nname = "solid"\nbackend = "solid"\n'
    config = f'[server]\ndata_dir = "{tmp_path}"\n{CONFIG}{solid}'
    with TestClient(create_app(decode_config(config), plugins)) as http:
        assert http.post("/v1/embeddings", json={"model": "fake", "input": ["a b", "c"]}).is_success
        body = {"model": "solid", "prompt": "p", "n": 2, "size": "16x16"}
        assert http.post("/v1/images/generations", json=body).status_code == 200
        text = http.get("/metrics").text
    assert _sample(text, "modelport_prompt_tokens_total", model="fake") == 2
    assert _sample(text, "modelport_generated_images_total", model="solid") == 2
    assert _sample(text, "modelport_image_generation_seconds_count", model="solid") == 1
