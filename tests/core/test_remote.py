"""The seam of Ray mode without Ray: a RemoteModel talking to a ModelHost through a
handle of Ray Serve's shape, in one process. Events, results and errors cross as bytes
and come back as core's own types; a stream's events go in lists, at most one a
``stream_interval``; a closed stream cancels the host's generation; back-pressure is a
429 to retry."""

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
    batched,
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
        """As Ray does: the host's generator is stopped where it is."""
        self.cancelled = True
        self.closing = asyncio.ensure_future(self.chunks.aclose())  # type: ignore[attr-defined]


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


async def _connected(
    interval: str = "0", most: str = "100ms", parallel: int = 1
) -> tuple[RemoteModel, _Handle]:
    plugins = load_plugins(entry_points=False, extra=[("fake", FakePlugin())])
    plugins.collect_backends()
    ray = f'[server.ray]\nstream_interval = "{interval}"\nstream_interval_max = "{most}"\n'
    model = CONFIG.replace('backend = "fake"', f'backend = "fake"\nparallel = {parallel}')
    config = decode_config(ray + model)
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
            yield _encoder.encode([RemoteError.of(host_error)])

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


async def _timed(times: list[float], closed: list[bool]) -> AsyncIterator[int]:
    """Events at ``times`` (seconds from the start); ``closed`` records its cleanup."""
    start = asyncio.get_running_loop().time()
    try:
        for i, at in enumerate(times):
            await asyncio.sleep(max(0.0, start + at - asyncio.get_running_loop().time()))
            yield i
    finally:
        closed.append(True)


def test_events_go_in_lists_at_most_one_per_interval() -> None:
    """The first event at once, alone; those that follow within the interval together
    when it has passed; an event after a quiet spell at once again."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent: list[tuple[list[int], float]] = []
        times = [0.0, 0.01, 0.02, 0.03, 0.04, 0.8, 0.81]
        async for batch in batched(_timed(times, []), lambda: 0.2):
            sent.append((batch, loop.time() - start))
        assert [batch for batch, _ in sent] == [[0], [1, 2, 3, 4], [5], [6]]
        assert sent[0][1] < 0.1  # the first at once
        assert 0.2 <= sent[1][1] < 0.35  # the rest when the interval has passed
        assert 0.8 <= sent[2][1] < 0.95  # after a quiet spell, at once (not at 1.0)
        assert sent[3][1] >= 1.0  # one list per interval, again
        assert [b async for b in batched(_timed(times[:3], []), lambda: 0)] == [[0], [1], [2]]
        # an event that is not output (a stream's opening) does not hold the next
        start = loop.time()
        sent.clear()
        async for batch in batched(_timed([0.0, 0.02, 0.04], []), lambda: 0.2, lambda e: e > 0):
            sent.append((batch, loop.time() - start))
        assert [batch for batch, _ in sent] == [[0], [1], [2]]
        assert sent[1][1] < 0.15 and sent[2][1] >= 0.22

    asyncio.run(main())


def test_an_error_comes_after_the_events_before_it_and_closing_stops_the_source() -> None:
    async def failing() -> AsyncIterator[int]:
        yield 1
        yield 2
        raise ContextLengthExceeded("too long")

    async def main() -> None:
        got: list[int] = []
        with pytest.raises(ContextLengthExceeded):
            async for batch in batched(failing(), lambda: 0.05):
                got += batch
        assert got == [1, 2]
        closed: list[bool] = []
        stream = batched(_timed([0.0, 0.01, 5.0], closed), lambda: 0.05)
        assert await anext(stream) == [0]
        await stream.aclose()
        assert closed == [True]  # the source was cancelled, not left to run

    asyncio.run(main())


def test_a_streams_events_cross_in_lists_through_the_host() -> None:
    """With the fake model's 10 ms a token and a 50 ms interval, ten tokens cross in a
    few messages, and come out as the same events one by one."""

    async def main() -> None:
        model, handle = await _connected(interval="50ms")
        bodies: list[bytes] = []
        chat = handle.host.chat

        async def counting(body: bytes) -> AsyncIterator[bytes]:
            async for chunk in chat(body):
                bodies.append(chunk)
                yield chunk

        handle.host.chat = counting  # type: ignore[method-assign]
        words = " ".join(f"w{i}" for i in range(10))
        events = [e async for e in model.chat(_ask(words, max_tokens=10))]
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == words
        assert isinstance(events[-1], Finish)
        # 12 events in ~100 ms: the opening, the first token at once, then a list per
        # 50 ms (a few more if the machine is slow; one per event without the interval)
        assert 3 <= len(bodies) <= 8, len(bodies)

    asyncio.run(main())


def test_the_interval_grows_with_the_streams_a_replica_runs() -> None:
    """n streams at once: n x stream_interval each, at most stream_interval_max (so the
    replica's messages per second stay about the same as streams are added)."""
    ray = decode_config(CONFIG).server.ray
    assert [ray.stream_interval_seconds(n) for n in (0, 1, 2, 4, 5, 8)] == pytest.approx(
        [0.02, 0.02, 0.04, 0.08, 0.1, 0.1]
    )

    async def main() -> None:
        model, handle = await _connected(interval="30ms", most="1s", parallel=3)
        host = handle.host
        assert host.interval() == pytest.approx(0.03)
        words = " ".join(f"w{i}" for i in range(20))
        streams = [model.chat(_ask(words, max_tokens=20)) for _ in range(3)]
        for stream in streams:
            await anext(stream)  # (each has started on the host)
        assert host.streams == 3 and host.interval() == pytest.approx(0.09)
        for stream in streams:
            await stream.aclose()  # type: ignore[attr-defined]
        await asyncio.sleep(0.05)  # (the host's generators finish closing)
        assert host.streams == 0 and host.interval() == pytest.approx(0.03)

    asyncio.run(main())
