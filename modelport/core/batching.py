"""Dynamic batching of embedding requests: concurrent requests to one model become one call.

Clients wait in the batcher's own bounded queue, never in a model slot: only the batch
workers (at most the model's ``parallel``) take a slot, so a waiting client can never
block the batch it waits for. A worker takes the oldest pending request and every later
compatible one, up to ``max_inputs`` inputs, and hands the merged request to the model.

The window: while a batch runs, new requests queue up and form the next batch. When the
model is idle, the oldest request waits for the company it can expect: the requests of
the last batch plus those that arrived while it ran (the clients just answered usually
come back together), but never longer than ``window`` from the moment the model was free
to take it: batching adds at most ``window`` to a request's time. So a lone client never
waits, and a crowd of clients keeps its batches full; when the crowd thins, one batch
waits out the window and the expectation follows.

Each client gets exactly its own vectors, in input order. A failed batch of several
requests is retried one request at a time, so one bad input fails only its own request;
errors about the model itself (not loadable, overloaded) fail the whole batch at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .errors import BackendError, ModelLoadFailed, Overloaded
from .types import EmbedRequest, EmbedResult

__all__ = ["EmbedBatcher", "split_tokens"]

log = logging.getLogger("modelport.batching")

RunBatch = Callable[[EmbedRequest], Awaitable[EmbedResult]]

# Failures of the model as a whole: retrying request by request would only repeat them.
MODEL_LEVEL_ERRORS = (ModelLoadFailed, Overloaded)


class _Pending:
    """One client's request, waiting for its share of a batch."""

    __slots__ = ("arrived", "future", "request")

    def __init__(self, request: EmbedRequest, future: asyncio.Future[EmbedResult]):
        self.request = request
        self.future = future
        self.arrived = time.monotonic()

    @property
    def size(self) -> int:
        return len(self.request.inputs)

    def batch_key(self, native_dimensions: bool) -> tuple[bool, int | None]:
        """Requests merge only with the same kind of input (text or token ids) and, when
        the backend applies ``dimensions`` itself, the same ``dimensions``."""
        tokens = bool(self.request.inputs) and not isinstance(self.request.inputs[0], str)
        return tokens, self.request.dimensions if native_dimensions else None


class EmbedBatcher:
    """Gathers concurrent embedding requests to one model into batches.

    ``run_batch`` embeds one (merged) request: it takes the model's slot itself.
    """

    def __init__(
        self,
        run_batch: RunBatch,
        *,
        max_inputs: int = 64,
        window: float = 0.005,
        max_pending: int = 64,
        workers: int = 1,
        native_dimensions: bool = False,
        model: str = "",
    ):
        self._run_batch = run_batch
        self.max_inputs = max_inputs
        self.window = window
        self.max_pending = max_pending
        self.max_workers = workers
        self.native_dimensions = native_dimensions
        self.model = model
        self._pending: deque[_Pending] = deque()
        self._arrival = asyncio.Event()
        self._expected = 1  # clients seen around the last batch: the company to wait for
        self._workers: set[asyncio.Task[None]] = set()
        self._working = 0  # counted in the worker itself: done-callbacks run a step late
        self.batch_sizes: list[int] = []
        """Inputs per batch run so far (recent ones; for tests and metrics)."""

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def embed(self, request: EmbedRequest) -> EmbedResult:
        """Embed ``request`` as part of a batch; its own vectors, in its input order."""
        if len(self._pending) >= self.max_pending:
            raise Overloaded(
                f"model {self.model!r} is busy: {len(self._pending)} embedding requests "
                "already queued",
                retry_after=1.0,
            )
        item = _Pending(request, asyncio.get_running_loop().create_future())
        self._pending.append(item)
        self._arrival.set()
        if self._working < self.max_workers:
            self._working += 1
            worker = asyncio.create_task(self._work(), name=f"modelport-embed-batch-{self.model}")
            self._workers.add(worker)  # a strong reference while it runs
            worker.add_done_callback(self._workers.discard)
        # A client that goes away cancels its future; the worker skips or drops it.
        return await item.future

    # --- the worker -------------------------------------------------------------------

    async def _work(self) -> None:
        try:
            while self._pending:
                await self._gather()
                batch = self._take()
                if batch:
                    await self._run(batch)
                    self._expected = len(batch) + len(self._pending)
        finally:
            self._working -= 1

    async def _gather(self) -> None:
        """Wait, up to ``window`` from now (the model is free), until the expected
        requests are pending or the batch is full."""
        deadline = time.monotonic() + self.window
        while (
            len(self._pending) < self._expected
            and sum(p.size for p in self._pending) < self.max_inputs
        ):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._arrival.clear()
            try:
                await asyncio.wait_for(self._arrival.wait(), remaining)
            except TimeoutError:
                return

    def _take(self) -> list[_Pending]:
        """The oldest live request and every later compatible one that fits."""
        while self._pending and self._pending[0].future.done():
            self._pending.popleft()  # its client went away before the batch formed
        if not self._pending:
            return []
        key = self._pending[0].batch_key(self.native_dimensions)
        batch: list[_Pending] = []
        kept: deque[_Pending] = deque()
        total = 0
        for item in self._pending:
            if item.future.done():
                continue
            fits = not batch or total + item.size <= self.max_inputs
            if fits and item.batch_key(self.native_dimensions) == key:
                batch.append(item)
                total += item.size
            else:
                kept.append(item)
        self._pending = kept
        return batch

    async def _run(self, batch: list[_Pending]) -> None:
        inputs = sum(p.size for p in batch)
        self.batch_sizes = [*self.batch_sizes[-255:], inputs]
        if log.isEnabledFor(logging.DEBUG):
            waited = 1000 * (time.monotonic() - batch[0].arrived)
            log.debug(
                "model %r: batch of %d inputs from %d requests (oldest waited %.1f ms)",
                self.model,
                inputs,
                len(batch),
                waited,
            )
        try:
            result = await self._call(_merge([p.request for p in batch], self.native_dimensions))
        except MODEL_LEVEL_ERRORS as exc:
            _fail(batch, exc)
        except Exception as exc:  # noqa: BLE001 - handed to the clients, not swallowed
            if len(batch) == 1:
                _fail(batch, exc)
            else:
                await self._run_one_by_one(batch)
        except BaseException:
            for item in batch:
                item.future.cancel()
            raise
        else:
            _deliver(batch, result)

    async def _run_one_by_one(self, batch: list[_Pending]) -> None:
        for item in batch:
            if item.future.done():
                continue
            try:
                result = await self._call(item.request)
            except Exception as exc:  # noqa: BLE001 - handed to this client
                _fail([item], exc)
            else:
                _deliver([item], result)

    async def _call(self, request: EmbedRequest) -> EmbedResult:
        result = await self._run_batch(request)
        if len(result.vectors) != len(request.inputs):
            raise BackendError(
                f"model {self.model!r} returned {len(result.vectors)} vectors "
                f"for {len(request.inputs)} inputs"
            )
        return result


def _merge(requests: Sequence[EmbedRequest], native_dimensions: bool) -> EmbedRequest:
    """One request with every input, in order (all of one kind: see ``batch_key``)."""
    if len(requests) == 1:
        return requests[0]
    inputs: Any = tuple(x for r in requests for x in r.inputs)
    dimensions = requests[0].dimensions if native_dimensions else None
    return EmbedRequest(model=requests[0].model, inputs=inputs, dimensions=dimensions)


def _deliver(batch: list[_Pending], result: EmbedResult) -> None:
    sizes = [p.size for p in batch]
    tokens = _tokens_per_request(result, sizes, [p.request for p in batch])
    start = 0
    for item, size, count in zip(batch, sizes, tokens, strict=True):
        if not item.future.done():
            share = result.vectors[start : start + size]
            per_input = result.input_tokens[start : start + size] if result.input_tokens else None
            item.future.set_result(
                EmbedResult(vectors=share, prompt_tokens=count, input_tokens=per_input)
            )
        start += size


def _fail(batch: list[_Pending], exc: BaseException) -> None:
    for item in batch:
        if not item.future.done():
            item.future.set_exception(exc)


def _tokens_per_request(
    result: EmbedResult, sizes: list[int], requests: list[EmbedRequest]
) -> list[int]:
    if len(sizes) == 1:
        return [result.prompt_tokens]
    if result.input_tokens is not None and len(result.input_tokens) == sum(sizes):
        counts, start = [], 0
        for size in sizes:
            counts.append(sum(result.input_tokens[start : start + size]))
            start += size
        return counts
    weights = [sum(len(x) for x in r.inputs) for r in requests]
    return split_tokens(result.prompt_tokens, weights)


def split_tokens(total: int, weights: Sequence[int]) -> list[int]:
    """Share ``total`` in proportion to ``weights`` (largest remainder: the parts sum to
    ``total``). For backends that report only a batch's total token count."""
    if not weights:
        return []
    weight_sum = sum(weights)
    if weight_sum <= 0:
        weights, weight_sum = [1] * len(weights), len(weights)
    exact = [total * w / weight_sum for w in weights]
    parts = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: exact[i] - parts[i], reverse=True)
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    return parts
