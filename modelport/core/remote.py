"""Models served by other processes (Ray Serve deployments), behind the capability
methods every model has: the seam between the HTTP layer and where models run.

``ModelHost`` runs in a model's process: it loads the model exactly as a local server
does (its own ``ModelManager`` with only that model) and serves each capability method
over bytes. ``RemoteModel`` is what the HTTP process's manager holds instead of a loaded
model: its ``chat``/``complete``/``embed``/``generate_image`` send the request to a
host through a handle and decode what comes back, so core (tools, reasoning, stored
responses) and the adapters cannot tell it from a local model.

Everything crosses processes as msgspec MessagePack of core's own types: requests,
events (streamed as they are produced, in lists: a model's replica sends what a stream
produced within ``[server.ray] stream_interval`` as one message, the first event at
once, the interval growing with the streams the replica runs), results, and errors
(a ``RemoteError`` naming the ``ModelportError`` class, raised again on the caller's
side).
A handle is anything with Ray Serve's ``DeploymentHandle`` shape:
``handle.options(stream=True).chat.remote(body)`` is an async iterator of bytes with
``cancel()``, ``await handle.embed.remote(body)`` bytes, ``handle.info.remote().result()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, Literal, TypeVar

import msgspec

from . import errors as _errors
from .capabilities import Capability, Feature
from .config import Config, ReasoningConfig
from .errors import BackendError, ModelportError, Overloaded
from .images import ImageRequest, ImageResult
from .manager import ModelManager
from .plugins import Plugins
from .records import Location, Record, RecordStore, open_records
from .rerank import RerankRequest, RerankResult
from .tokenization import DetokenizeRequest, DetokenizeResult, TokenizeRequest, TokenizeResult
from .types import (
    ChatEvent,
    ChatRequest,
    CompletionRequest,
    EmbedRequest,
    EmbedResult,
    Started,
)

__all__ = ["ModelHost", "RecordHost", "RemoteError", "RemoteInfo", "RemoteModel", "RemoteStore"]

log = logging.getLogger("modelport.remote")
T = TypeVar("T")


class RemoteError(msgspec.Struct, frozen=True, kw_only=True, tag="error", tag_field="kind"):
    """A ``ModelportError`` raised where the model runs, to raise again where it was
    asked for: its class name, message, param and code."""

    error: str
    message: str
    param: str | None = None
    code: str | None = None

    @classmethod
    def of(cls, exc: BaseException) -> RemoteError:
        if isinstance(exc, ModelportError):
            return cls(
                error=type(exc).__name__, message=exc.message, param=exc.param, code=exc.code
            )
        return cls(error="BackendError", message=f"{type(exc).__name__}: {exc}")

    def exception(self) -> ModelportError:
        kind = getattr(_errors, self.error, None)
        if not (isinstance(kind, type) and issubclass(kind, ModelportError)):
            kind = BackendError
        return kind(self.message, param=self.param, code=self.code)


class RemoteInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What the HTTP process needs to know of a loaded remote model (what a local model
    tells its manager through attributes)."""

    features: frozenset[Feature]
    capabilities: frozenset[Capability]
    vocab_size: int | None = None
    reasoning: ReasoningConfig | None = None


_encoder = msgspec.msgpack.Encoder()
_events = msgspec.msgpack.Decoder(list[ChatEvent | RemoteError])


# A unary reply: one byte saying what follows (a result, or a ``RemoteError``).
_OK, _FAILED = b"\x00", b"\x01"


def _reply(value: object) -> bytes:
    marker = _FAILED if isinstance(value, RemoteError) else _OK
    return marker + _encoder.encode(value)


def _decode(body: bytes, kind: type[T]) -> T:
    if body[:1] == _FAILED:
        raise msgspec.msgpack.decode(body[1:], type=RemoteError).exception()
    return msgspec.msgpack.decode(body[1:], type=kind)


def _failure(exc: Exception) -> ModelportError:
    """What a failed call to a replica means for the client: its queue was full (Ray
    Serve's back-pressure: a 429 to retry), or the replica died or was unreachable."""
    if type(exc).__name__ == "BackPressureError":
        return Overloaded("the model's replicas are busy: their queues are full", retry_after=1.0)
    return BackendError(f"the model's replica failed: {type(exc).__name__}")


class RemoteModel:
    """A model served through ``handle``, loaded as far as this process is concerned."""

    def __init__(self, handle: Any, info: RemoteInfo):
        self.handle = handle
        self.features = info.features
        self.vocab_size = info.vocab_size
        self.reasoning = info.reasoning

    @classmethod
    def connect(cls, handle: Any, loop: asyncio.AbstractEventLoop) -> RemoteModel:
        """Blocking (a loader runs in a worker thread): waits until the model is loaded
        on the other side, and asks what it is. The handle is called on ``loop``, the
        event loop it is used from (in Ray Serve's throughput-optimized mode a handle
        routes on its replica's main loop, and works from there only)."""

        async def info() -> bytes:
            body: bytes = await handle.info.remote()
            return body

        body = asyncio.run_coroutine_threadsafe(info(), loop).result()
        return cls(handle, _decode(body, RemoteInfo))

    async def _stream(self, method: str, request: object) -> AsyncIterator[ChatEvent]:
        stream = None
        try:
            call = getattr(self.handle.options(stream=True), method)
            stream = call.remote(_encoder.encode(request))
            async for body in stream:
                for event in _events.decode(body):
                    if isinstance(event, RemoteError):
                        raise event.exception()
                    yield event
        except ModelportError:
            raise
        except Exception as exc:
            raise _failure(exc) from exc
        finally:
            if stream is not None:
                stream.cancel()  # stops the generation there (a no-op once it has finished)

    def chat(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        return self._stream("chat", request)

    def complete(self, request: CompletionRequest) -> AsyncIterator[ChatEvent]:
        return self._stream("complete", request)

    async def _call(self, method: str, request: object, kind: type[T]) -> T:
        try:
            body = await getattr(self.handle, method).remote(_encoder.encode(request))
        except Exception as exc:
            raise _failure(exc) from exc
        return _decode(body, kind)

    async def embed(self, request: EmbedRequest) -> EmbedResult:
        return await self._call("embed", request, EmbedResult)

    async def generate_image(self, request: ImageRequest) -> ImageResult:
        return await self._call("generate_image", request, ImageResult)

    async def rerank(self, request: RerankRequest) -> RerankResult:
        return await self._call("rerank", request, RerankResult)

    async def tokenize(self, request: TokenizeRequest) -> TokenizeResult:
        return await self._call("tokenize", request, TokenizeResult)

    async def detokenize(self, request: DetokenizeRequest) -> DetokenizeResult:
        return await self._call("detokenize", request, DetokenizeResult)


async def batched(
    events: AsyncIterator[T],
    interval: Callable[[], float],
    output: Callable[[T], bool] = lambda _: True,
) -> AsyncGenerator[list[T], None]:
    """``events`` in lists, at most one list of ``output`` per ``interval()`` seconds
    (asked again for each list): an event that finds the last such list sent longer ago
    than that goes at once; the ones that follow it wait for the interval to pass and go
    together. (A model's replica sends each list as one message: fewer messages cost
    both processes less CPU; a stream's opening event is not output, so its first token
    is never held.) Closing this closes ``events``; an error from ``events`` comes after
    the events before it. An interval of 0 when the stream starts: every event alone."""
    if interval() <= 0:
        async with contextlib.aclosing(events):  # type: ignore[type-var]
            async for event in events:
                yield [event]
        return
    queue: asyncio.Queue[tuple[T | None, BaseException | None, bool]] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for event in events:
                queue.put_nowait((event, None, False))
        except BaseException as exc:  # raised again by the reader, after the events
            queue.put_nowait((None, exc, True))  # (a reader never waits on a dead pump)
            if not isinstance(exc, Exception):
                raise
        else:
            queue.put_nowait((None, None, True))

    loop = asyncio.get_running_loop()
    task = asyncio.create_task(pump())
    sent = -math.inf
    try:
        while True:
            held = [await queue.get()]
            wait = sent + interval() - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            while not queue.empty():
                held.append(queue.get_nowait())
            batch = [event for event, _, end in held if not end]
            if batch:
                if any(output(event) for event in batch):  # type: ignore[arg-type]
                    sent = loop.time()
                yield batch  # type: ignore[misc]
            if held[-1][2]:
                if held[-1][1] is not None:
                    raise held[-1][1]
                return
    finally:
        task.cancel()  # the model's generator gets the cancellation and stops
        await asyncio.gather(task, return_exceptions=True)


def _output(event: ChatEvent) -> bool:
    return not isinstance(event, Started)


class ModelHost:
    """One configured model, loaded and served over bytes (in a Ray Serve replica).

    ``config`` is the whole server configuration; only ``name`` is loaded, with its own
    slots (``parallel``) and bounded queue, as in a local server."""

    def __init__(self, config: Config, name: str, plugins: Plugins):
        self.ray = config.server.ray
        self.streams = 0  # streams running here (their interval grows with them)
        model = next(m for m in config.models if m.name == name)
        only = msgspec.structs.replace(
            config, models=[msgspec.structs.replace(model, load="eager", keep_alive="-1")]
        )
        self.manager = ModelManager(only, plugins)
        self.entry = self.manager.resolve(name)

    def interval(self) -> float:
        """How long a stream's events are held for company now (``[server.ray]
        stream_interval``, times the streams running here, at most
        ``stream_interval_max``)."""
        return self.ray.stream_interval_seconds(self.streams)

    async def start(self) -> None:
        """Pull the model's source if needed, and load it."""
        await self.manager.load(self.entry)

    async def info(self) -> bytes:
        entry = self.entry
        info = RemoteInfo(
            features=entry.features,
            capabilities=entry.capabilities,
            vocab_size=entry.vocab_size,
            reasoning=entry.reasoning,
        )
        return _reply(info)

    async def _stream(self, method: str, body: bytes, kind: type[Any]) -> AsyncIterator[bytes]:
        try:
            request = msgspec.msgpack.decode(body, type=kind)
            async with self.manager.use(self.entry) as model:
                events = getattr(model, method)(request)
                self.streams += 1
                try:
                    batches = batched(events, self.interval, _output)
                    async with contextlib.aclosing(batches):  # (stops the model's now)
                        async for batch in batches:
                            yield _encoder.encode(batch)
                finally:
                    self.streams -= 1
        except Exception as exc:
            if not isinstance(exc, ModelportError):
                log.exception("model %r failed", self.entry.name)
            yield _encoder.encode([RemoteError.of(exc)])

    def chat(self, body: bytes) -> AsyncIterator[bytes]:
        return self._stream("chat", body, ChatRequest)

    def complete(self, body: bytes) -> AsyncIterator[bytes]:
        return self._stream("complete", body, CompletionRequest)

    async def _call(self, method: str, body: bytes, kind: type[Any], *, slot: bool = True) -> bytes:
        try:
            request = msgspec.msgpack.decode(body, type=kind)
            hold = self.manager.use if slot else self.manager.borrow
            async with hold(self.entry) as model:
                return _reply(await getattr(model, method)(request))
        except Exception as exc:
            if not isinstance(exc, ModelportError):
                log.exception("model %r failed", self.entry.name)
            return _reply(RemoteError.of(exc))

    async def embed(self, body: bytes) -> bytes:
        return await self._call("embed", body, EmbedRequest)

    async def generate_image(self, body: bytes) -> bytes:
        return await self._call("generate_image", body, ImageRequest)

    async def rerank(self, body: bytes) -> bytes:
        return await self._call("rerank", body, RerankRequest)

    async def tokenize(self, body: bytes) -> bytes:
        return await self._call("tokenize", body, TokenizeRequest, slot=False)

    async def detokenize(self, body: bytes) -> bytes:
        return await self._call("detokenize", body, DetokenizeRequest, slot=False)

    async def close(self) -> None:
        await self.manager.close()


class _RecordCall(msgspec.Struct, frozen=True, kw_only=True):
    """One call to a store served elsewhere: the table, its bounds and how its records
    are named, the operation and its arguments."""

    table: str
    max_age: float | None
    max_count: int
    noun: str
    param: str
    op: Literal["put", "get", "list", "delete", "count"]
    record: Record | None = None
    id: str = ""
    model: str | None = None
    metadata: dict[str, str] | None = None
    order: Literal["asc", "desc"] = "asc"


class RemoteStore:
    """The stored objects of every replica of the app, served by one store process
    (:class:`RecordHost`) through ``handle``: an ``open_records`` location
    (``await handle.records.remote(body)`` gives the reply's bytes)."""

    def __init__(self, handle: Any):
        self.handle = handle

    def __call__(self, table: str, **bounds: Any) -> RecordStore:
        return _RemoteRecords(self.handle, table, **bounds)


class _RemoteRecords(RecordStore):
    """The records of ``table``, kept by a :class:`RecordHost`."""

    def __init__(self, handle: Any, table: str, **bounds: Any):
        super().__init__(**bounds)
        self.handle, self.table = handle, table

    async def _call(self, kind: type[T], op: Any, **args: Any) -> T:
        call = _RecordCall(
            table=self.table,
            max_age=self.max_age,
            max_count=self.max_count,
            noun=self.noun,
            param=self.param,
            op=op,
            **args,
        )
        try:
            body = await self.handle.records.remote(_encoder.encode(call))
        except Exception as exc:
            raise BackendError(f"the store failed: {type(exc).__name__}") from exc
        return _decode(body, kind)

    async def put(self, record: Record) -> Record:
        return await self._call(Record, "put", record=record)

    async def get(self, record_id: str) -> Record:
        return await self._call(Record, "get", id=record_id)

    async def list(
        self,
        *,
        model: str | None = None,
        metadata: dict[str, str] | None = None,
        order: Literal["asc", "desc"] = "asc",
    ) -> list[Record]:
        return await self._call(list[Record], "list", model=model, metadata=metadata, order=order)

    async def delete(self, record_id: str) -> None:
        await self._call(type(None), "delete", id=record_id)

    async def count(self) -> int:
        return await self._call(int, "count")

    def close(self) -> None:
        """(The host owns the database.)"""


class RecordHost:
    """The store of every replica of the app (in one Ray Serve replica): records at
    ``location`` (the SQLite file in its node's data directory), served over bytes."""

    def __init__(self, location: Location):
        self.location = location
        self.stores: dict[tuple[Any, ...], RecordStore] = {}

    def _store(self, call: _RecordCall) -> RecordStore:
        key = (call.table, call.max_age, call.max_count, call.noun, call.param)
        store = self.stores.get(key)
        if store is None:
            store = self.stores[key] = open_records(
                self.location,
                call.table,
                max_age=call.max_age,
                max_count=call.max_count,
                noun=call.noun,
                param=call.param,
            )
        return store

    async def records(self, body: bytes) -> bytes:
        try:
            call = msgspec.msgpack.decode(body, type=_RecordCall)
            store = self._store(call)
            if call.op == "put":
                if call.record is None:
                    raise ValueError("put without a record")
                return _reply(await store.put(call.record))
            if call.op == "get":
                return _reply(await store.get(call.id))
            if call.op == "list":
                found = await store.list(model=call.model, metadata=call.metadata, order=call.order)
                return _reply(found)
            if call.op == "delete":
                await store.delete(call.id)
                return _reply(None)
            return _reply(await store.count())
        except Exception as exc:
            if not isinstance(exc, ModelportError):
                log.exception("the store failed")
            return _reply(RemoteError.of(exc))

    def close(self) -> None:
        for store in self.stores.values():
            store.close()
