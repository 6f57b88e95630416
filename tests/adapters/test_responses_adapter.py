"""/v1/responses in-process with the fake backend: spec shapes, events, errors, store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from helpers import assert_valid
from modelport.adapters.openai.app import create_app
from modelport.core.config import decode_config
from modelport.core.plugins import load_plugins
from modelport.testing.fake import FakePlugin


@pytest.fixture
def http(tmp_path: Path) -> Iterator[TestClient]:
    plugins = load_plugins(entry_points=False, extra=[("fake", FakePlugin())])
    plugins.collect_backends()
    config = f'[server]\ndata_dir = "{tmp_path}"\n[[models]]\nname = "fake"\nbackend = "fake"\n'
    with TestClient(create_app(decode_config(config), plugins)) as client:
        yield client


def _events(text: str) -> list[dict[str, object]]:
    frames = [f for f in text.split("\n\n") if f]
    out = []
    for frame in frames:
        event_line, data_line = frame.split("\n")
        event = json.loads(data_line.removeprefix("data: "))
        assert event_line == f"event: {event['type']}"
        out.append(event)
    return out


def test_create_retrieve_items_delete(http: TestClient) -> None:
    resp = http.post("/v1/responses", json={"model": "fake", "input": "one two three"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert_valid("Response", body)
    assert body["status"] == "completed" and body["usage"]["output_tokens"] == 3
    assert body["output"][0]["content"][0]["text"] == "one two three"
    got = http.get(f"/v1/responses/{body['id']}")
    assert got.status_code == 200 and got.json()["output"] == body["output"]
    items = http.get(f"/v1/responses/{body['id']}/input_items").json()
    assert_valid("ResponseItemList", items)
    assert items["data"][0]["content"] == [{"type": "input_text", "text": "one two three"}]
    deleted = http.delete(f"/v1/responses/{body['id']}")
    assert deleted.json() == {"id": body["id"], "object": "response.deleted", "deleted": True}
    missing = http.get(f"/v1/responses/{body['id']}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_stream_event_sequence(http: TestClient) -> None:
    body = {"model": "fake", "input": "a b c d e f", "max_output_tokens": 16, "stream": True}
    with http.stream("POST", "/v1/responses", json=body) as resp:
        assert resp.status_code == 200
        events = _events(resp.read().decode())
    for event in events:
        assert_valid("ResponseStreamEvent", event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    types = [e["type"] for e in events]
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 6,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = events[-1]["response"]
    assert isinstance(final, dict) and final["output"][0]["id"] == events[2]["item"]["id"]  # type: ignore[index]


def test_early_errors_have_real_statuses(http: TestClient) -> None:
    cases = [
        ({"model": "nope", "input": "x"}, 404, "model"),
        ({"model": "fake", "input": "x", "previous_response_id": "resp_x"}, 404, "response_id"),
        ({"model": "fake", "input": []}, 400, "input"),
        ({"model": "fake", "input": "x", "background": True}, 400, "background"),
        ({"model": "fake", "input": "x", "tool_choice": "required"}, 400, "tool_choice"),
        ({"model": "fake", "input": [{"type": "function_call_output"}]}, 400, "input[0].call_id"),
        ({"model": "fake", "input": "x", "text": {"format": {"type": "xml"}}}, 400, None),
    ]
    for body, status, param in cases:
        resp = http.post("/v1/responses", json=body)
        assert resp.status_code == status, (body, resp.text)
        if param is not None:
            assert resp.json()["error"]["param"] == param, body
