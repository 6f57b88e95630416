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
"""

from __future__ import annotations

from collections.abc import Iterator

from litestar import Response, get
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from modelport.core.manager import ModelManager
from modelport.core.types import Usage

from .common import HttpRequest

__all__ = ["METRICS_PATH", "Metrics", "metrics"]

METRICS_PATH = "/metrics"
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


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

    def __init__(self, manager: ModelManager):
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


@get(METRICS_PATH, include_in_schema=False)
async def metrics(request: HttpRequest) -> Response[bytes]:
    """Prometheus text exposition of this server's metrics."""
    registry: Metrics = request.app.state.metrics
    return Response(registry.exposition(), media_type=CONTENT_TYPE_LATEST)
