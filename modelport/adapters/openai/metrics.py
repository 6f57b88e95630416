"""Prometheus metrics: ``GET /metrics`` and what feeds it.

- requests by route template and status, and request latency (until the last body byte,
  so a stream counts whole), from :class:`~.observe.RequestObserver`;
- time to first token, tokens and images per model, from the core service, which
  reports every generation, embedding and image request to its observers
  (:class:`Metrics` is one: ``modelport.core.observers.Observer``);
- queue depth, active requests and load state per model, read from the model manager
  at scrape time (no bookkeeping on the hot path).

Each app has its own registry, so several apps in one process (tests) never collide.
``/metrics`` sits behind the API key like every route, unless ``[server] public_metrics``.
``/metrics/history`` (the same rule) keeps the last 15 minutes of a few totals, sampled
every 5 s, for the console's charts: a page opened now shows the minutes before it.

An app that is one replica of several (on Ray) answers for all of them: it hands its
own :meth:`Metrics.snapshot` to ``gather``, which returns the exposition of every
replica's snapshots merged (:func:`merge`): counters and histograms summed (a replica
that is gone still counts, so totals never go back), gauges summed over the live
replicas (except a model's loaded and failed flags: the largest).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator

import msgspec
from litestar import Response, get
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from modelport.core.manager import ModelManager
from modelport.core.types import Usage

from .common import HttpRequest

__all__ = ["HISTORY_PATH", "METRICS_PATH", "Gather", "History", "Metrics", "merge", "metrics"]

log = logging.getLogger("modelport.http")

METRICS_PATH = "/metrics"
HISTORY_PATH = "/metrics/history"
HISTORY_INTERVAL = 5.0  # seconds between samples
HISTORY_SAMPLES = 180  # 15 minutes
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

# This replica's snapshot in, every replica's merged exposition out.
Gather = Callable[[bytes], Awaitable[bytes]]
# Gauges that say "this model is loaded (failed)" on each replica: merged by maximum.
_FLAGS = frozenset({"modelport_model_loaded", "modelport_model_failed"})


class _Sample(msgspec.Struct, array_like=True, frozen=True):
    name: str
    labels: dict[str, str]
    value: float


class _Family(msgspec.Struct, array_like=True, frozen=True):
    name: str
    type: str
    doc: str
    samples: list[_Sample]


_snapshot = msgspec.msgpack.Decoder(list[_Family])


def merge(snapshots: Iterable[tuple[bytes, bool]]) -> bytes:
    """The Prometheus exposition of several replicas' snapshots, each with whether the
    replica is live: counters and histograms summed over all of them, gauges over the
    live ones (loaded/failed flags: their maximum)."""
    families: dict[str, _Family] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for body, live in snapshots:
        for family in _snapshot.decode(body):
            gauge = family.type == "gauge"
            if gauge and not live:
                continue
            families.setdefault(family.name, family)
            merged = values.setdefault(family.name, {})
            for sample in family.samples:
                if sample.name.endswith("_created"):  # (when a series began: not summed)
                    continue
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if family.name in _FLAGS:
                    merged[key] = max(merged.get(key, 0.0), sample.value)
                else:
                    merged[key] = merged.get(key, 0.0) + sample.value
    registry = CollectorRegistry(auto_describe=False)

    class Merged:
        def collect(self) -> Iterator[Metric]:
            for name, family in families.items():
                metric = Metric(name, family.doc, family.type)
                for (sample, labels), value in values[name].items():
                    metric.add_sample(sample, dict(labels), value)
                yield metric

    registry.register(Merged())
    return generate_latest(registry)


class _ModelCollector:
    """Per-model gauges read from the manager at scrape time."""

    def __init__(self, manager: ModelManager):
        self.manager = manager

    def collect(self) -> Iterator[Metric]:
        queued = GaugeMetricFamily(
            "modelport_queue_depth", "requests waiting for a model slot", labels=["model"]
        )
        active = GaugeMetricFamily(
            "modelport_active_requests", "requests holding a model slot", labels=["model"]
        )
        loaded = GaugeMetricFamily(
            "modelport_model_loaded", "1 while the model is loaded", labels=["model", "backend"]
        )
        failed = GaugeMetricFamily(
            "modelport_model_failed", "1 while the model is marked failed", labels=["model"]
        )
        for entry in self.manager.entries.values():
            queued.add_metric([entry.name], entry.waiting)
            active.add_metric([entry.name], entry.active)
            loaded.add_metric([entry.name, entry.spec.name], int(entry.model is not None))
            failed.add_metric([entry.name], int(entry.state == "failed"))
        yield from (queued, active, loaded, failed)


class Metrics:
    """The registry of one app and the metrics recorded into it."""

    def __init__(self, manager: ModelManager, gather: Gather | None = None):
        self.gather = gather
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "modelport_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "modelport_request_duration_seconds",
            "HTTP request latency, until the last body byte (streams included)",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.ttft = Histogram(
            "modelport_time_to_first_token_seconds",
            "time from a generation's start (queueing included) to its first output",
            ["model"],
            buckets=TTFT_BUCKETS,
            registry=self.registry,
        )
        self.tokens = Counter(
            "modelport_generated_tokens",
            "completion tokens generated",
            ["model"],
            registry=self.registry,
        )
        self.prompt_tokens = Counter(
            "modelport_prompt_tokens",
            "prompt tokens processed (generation and embeddings)",
            ["model"],
            registry=self.registry,
        )
        self.images = Counter(
            "modelport_generated_images",
            "images generated",
            ["model"],
            registry=self.registry,
        )
        self.image_seconds = Histogram(
            "modelport_image_generation_seconds",
            "time to answer an image request (queueing included)",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_ModelCollector(manager))

    # --- what the core service reports (modelport.core.observers.Observer) ------------

    def first_output(self, model: str, seconds: float) -> None:
        self.ttft.labels(model).observe(seconds)

    def generated(self, model: str, usage: Usage) -> None:
        self.tokens.labels(model).inc(usage.completion_tokens)
        self.prompt_tokens.labels(model).inc(usage.prompt_tokens)

    def embedded(self, model: str, prompt_tokens: int) -> None:
        self.prompt_tokens.labels(model).inc(prompt_tokens)

    def imaged(self, model: str, images: int, seconds: float) -> None:
        self.images.labels(model).inc(images)
        self.image_seconds.labels(model).observe(seconds)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def snapshot(self) -> bytes:
        """Every sample of this app's metrics, for :func:`merge`."""
        families = [
            _Family(
                name=family.name,
                type=family.type,
                doc=family.documentation,
                samples=[_Sample(s.name, dict(s.labels), float(s.value)) for s in family.samples],
            )
            for family in self.registry.collect()
        ]
        return msgspec.msgpack.encode(families)

    async def answer(self) -> bytes:
        """What ``/metrics`` answers: this app's metrics, or every replica's."""
        if self.gather is None:
            return self.exposition()
        return await self.gather(self.snapshot())


@get(METRICS_PATH, include_in_schema=False)
async def metrics(request: HttpRequest) -> Response[bytes]:
    """Prometheus text exposition of this server's metrics (every replica's, on Ray)."""
    registry: Metrics = request.app.state.metrics
    return Response(await registry.answer(), media_type=CONTENT_TYPE_LATEST)


class History:
    """A few totals of ``/metrics`` every ``interval`` seconds, the last ``size`` kept:
    requests, generated tokens, time to first token (sum and count) and queue depth."""

    def __init__(
        self,
        read: Callable[[], Awaitable[bytes]],
        interval: float = HISTORY_INTERVAL,
        size: int = HISTORY_SAMPLES,
    ):
        self.read = read
        self.interval = interval
        self.samples: collections.deque[dict[str, float]] = collections.deque(maxlen=size)

    async def run(self) -> None:
        while True:
            try:
                self.samples.append(totals(await self.read()))
            except Exception:  # (a missed sample is a gap in a chart)
                log.debug("metrics history: a sample failed", exc_info=True)
            await asyncio.sleep(self.interval)


TOTALS = {
    "modelport_requests": "requests",
    "modelport_generated_tokens": "tokens",
    "modelport_queue_depth": "queued",
    "modelport_active_requests": "active",
}


def totals(exposition: bytes) -> dict[str, float]:
    """The history's totals in one ``/metrics`` answer, with the time it was taken."""
    out = {"time": time.time(), "requests": 0.0, "tokens": 0.0, "queued": 0.0, "active": 0.0}
    out |= {"ttft_sum": 0.0, "ttft_count": 0.0}
    for family in text_string_to_metric_families(exposition.decode()):
        for sample in family.samples:
            if family.name in TOTALS and not sample.name.endswith("_created"):
                out[TOTALS[family.name]] += sample.value
            elif sample.name == "modelport_time_to_first_token_seconds_sum":
                out["ttft_sum"] += sample.value
            elif sample.name == "modelport_time_to_first_token_seconds_count":
                out["ttft_count"] += sample.value
    return out


@get(HISTORY_PATH, include_in_schema=False)
async def history(request: HttpRequest) -> Response[bytes]:
    """The last minutes of a few totals (the console's charts): one sample every few
    seconds, each cumulative since start-up (rates are the differences)."""
    kept: History = request.app.state.history
    body = {"interval": kept.interval, "samples": list(kept.samples)}
    return Response(msgspec.json.encode(body), media_type="application/json")
