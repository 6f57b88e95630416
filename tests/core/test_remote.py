"""The seam of Ray mode without Ray: a RemoteModel talking to a ModelHost through a
handle of Ray Serve's shape, in one process. Events, results and errors cross as bytes
and come back as core's own types; a closed stream cancels the host's generation;
back-pressure is a 429 to retry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from modelport.core.config import decode_config
from modelport.core.errors import BackendError, ContextLengthExceeded, Overloaded
from modelport.core.plugins import load_plugins
from modelport.core.remote import (
    ModelHost,
    RemoteError,
    RemoteInfo,
    RemoteModel,
    _decode,
    _encoder,
)
from modelport.core.types import (
    ChatRequest,
    EmbedRequest,
    Finish,
    Message,
    Sampling,
    Started,
    TextDelta,
)
from modelport.testing.fake import FakePlugin

CONFIG = """
[[models]]
name = "fake"
backend = "fake"
[models.options]
delay = 0.01
"""


class _Stream:
    """``handle.options(stream=True).<method>.remote(body)``: bytes, and ``cancel()``."""

    def __init__(self, chunks: AsyncIterator[bytes]):
        self.chunks, self.cancelled = chunks, False

    def __aiter__(self) -> _Stream:
        return self

    async def __anext__(self) -> bytes:
        return await anext(self.chunks)

    def cancel(self) -> None:
        self.cancelled = True


class _Method:
    def __init__(self, fn: Any, stream: bool, handle: _Handle):
        self.fn, self.stream, self.handle = fn, stream, handle

    def remote(self, body: bytes | None = None) -> Any:
        if self.handle.fail is not None:
            raise self.handle.fail
        if self.stream:
            self.handle.last = _Stream(self.fn(body))
            return self.handle.last
        return _Response(self.fn() if body is None else self.fn(body))


class _Response:
    def __init__(self, coro: Any):
        self.coro = coro

    def __await__(self) -> Any:
        return self.coro.__await__()


class _Handle:
    def __init__(self, host: ModelHost, stream: bool = False):
        self.host, self.stream = host, stream
        self.fail: Exception | None = None
        self.last: _Stream | None = None

    def options(self, *, stream: bool) -> _Handle:
        other = _Handle(self.host, stream)
        other.fail, self._child = self.fail, other
        return other

    def __getattr__(self, name: str) -> _Method:
        return _Method(getattr(self.host, name), self.stream, self)


async def _connected() -> tuple[RemoteModel, _Handle]:
    plugins = load_plugins(entry_points=False, extra=[("fake", FakePlugin())])
    plugins.collect_backends()
    config = decode_config(CONFIG)
    host = ModelHost(config, "fake", plugins)
    await host.start()
    handle = _Handle(host)
    info = _decode(await host.info(), RemoteInfo)
    return RemoteModel(handle, info), handle


def _ask(text: str, max_tokens: int = 10) -> ChatRequest:
    return ChatRequest(
        model="fake",
        messages=(Message(role="user", content=text),),
        sampling=Sampling(max_tokens=max_tokens),
    )


def test_events_and_results_cross_as_core_types() -> None:
    async def main() -> None:
        model, _ = await _connected()
        assert model.vocab_size == 50_000
        events = [e async for e in model.chat(_ask("one two three"))]
        assert isinstance(events[0], Started) and isinstance(events[-1], Finish)
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "one two three"
        result = await model.embed(EmbedRequest(model="fake", inputs=("a", (1, 2))))
        assert len(result.vectors) == 2

    asyncio.run(main())


def test_errors_keep_their_class_and_failures_are_named() -> None:
    async def main() -> None:
        model, handle = await _connected()
        host_error = ContextLengthExceeded("too long", param="messages")

        async def failing(body: bytes) -> AsyncIterator[bytes]:
            yield _encoder.encode(RemoteError.of(host_error))

        handle.host.chat = failing  # type: ignore[method-assign]
        with pytest.raises(ContextLengthExceeded) as info:
            [e async for e in model.chat(_ask("x"))]
        assert info.value.param == "messages"

        class BackPressureError(Exception):
            pass

        handle.fail = BackPressureError("full")
        with pytest.raises(Overloaded):
            await model.embed(EmbedRequest(model="fake", inputs=("a",)))
        handle.fail = RuntimeError("ActorDiedError")
        with pytest.raises(BackendError):
            [e async for e in model.chat(_ask("x"))]

    asyncio.run(main())


def test_closing_the_stream_cancels_it_on_the_host() -> None:
    async def main() -> None:
        model, handle = await _connected()
        stream = model.chat(_ask(" ".join(["word"] * 50), max_tokens=50))
        await anext(stream)
        await anext(stream)
        await stream.aclose()  # type: ignore[attr-defined]
        assert handle._child.last is not None and handle._child.last.cancelled

    asyncio.run(main())
