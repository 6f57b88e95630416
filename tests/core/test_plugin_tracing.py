"""``MODELPORT_TRACE_HOOKS=1`` logs every hook call with its arguments and result."""

from __future__ import annotations

import logging

import pytest

from modelport.core.plugins import load_plugins
from modelport.testing.fake import FakePlugin


def _collect_with_logs(caplog: pytest.LogCaptureFixture) -> list[str]:
    with caplog.at_level(logging.INFO, logger="modelport.plugins"):
        load_plugins(entry_points=False, extra=[("fake", FakePlugin())]).collect_backends()
    return [r.getMessage() for r in caplog.records if r.name == "modelport.plugins"]


def test_hook_calls_are_logged_when_tracing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MODELPORT_TRACE_HOOKS", "1")
    messages = _collect_with_logs(caplog)
    calls = [m for m in messages if m.startswith("hook:") and "register_backends [hook]" in m]
    finishes = [m for m in messages if "finish register_backends" in m]
    assert calls and finishes, messages
    assert any("registry: <modelport.core.registry.BackendRegistry" in m for m in messages)


def test_nothing_is_logged_without_tracing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("MODELPORT_TRACE_HOOKS", raising=False)
    assert not [m for m in _collect_with_logs(caplog) if m.startswith("hook:")]
