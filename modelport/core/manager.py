"""The model manager: names and aliases, sources, loading, slots, keep-alive, LRU."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .capabilities import METHODS_OF, Capability, Feature
from .config import Config, ModelConfig, ReasoningConfig, decode_options, parse_duration
from .errors import (
    ConfigError,
    InvalidRequest,
    ModelLoadFailed,
    ModelNotFound,
    ModelportError,
    Overloaded,
    PluginError,
)
from .plugins import Plugins
from .reasoning import effective_reasoning
from .registry import BackendSpec, Distribution, LoadContext

if TYPE_CHECKING:
    from .batching import EmbedBatcher
from .sources import Progress, cached_path, fetch

__all__ = ["Admission", "ModelEntry", "ModelManager"]

log = logging.getLogger("modelport.models")

RETRY_FAILED_AFTER = 30.0


class ModelEntry:
    """One configured model and its runtime state."""

    def __init__(
        self,
        index: int,
        config: ModelConfig,
        spec: BackendSpec,
        options: Any,
        distribution: Distribution,
    ):
        self.index = index
        self.config = config
        self.spec = spec
        self.options = options
        self.distribution = distribution
        self.capabilities: frozenset[Capability] = spec.model_capabilities(options)
        # What core serves over the model's other capabilities ([models] rerank).
        self.served_by_core: frozenset[Capability] = frozenset()
        if config.rerank == "embeddings" and Capability.EMBED in self.capabilities:
            self.served_by_core = frozenset({Capability.RERANK})
            self.capabilities |= self.served_by_core
        self.features: frozenset[Feature] = spec.model_features(options)
        # How the model marks its thinking: [models.reasoning], or what the loaded model
        # detected in its chat template (see ``reasoning.effective_reasoning``).
        self.reasoning: ReasoningConfig | None = config.reasoning
        # The loaded model's vocabulary size, when it takes token input (see ``tokens``).
        self.vocab_size: int | None = None
        self.defaults = config.defaults.to_sampling()
        self.keep_alive = parse_duration(config.keep_alive)
        self.created = int(time.time())
        self.path: Path | None = None
        self.model: object | None = None
        self.state = "unloaded"
        self.error: str | None = None
        self.failed_at = 0.0
        self.last_used = 0.0
        self.active = 0
        self.waiting = 0
        self.borrowed = 0  # quick uses beside the slots (tokenizing)
        self.slots = asyncio.Semaphore(config.parallel)
        self.load_lock = asyncio.Lock()
        # Gathers concurrent embedding requests into batches; the service creates it.
        self.embed_batcher: EmbedBatcher | None = None

    @property
    def name(self) -> str:
        return self.config.name

    def fingerprint(self) -> str:
        """Identifies backend + model file, for ``system_fingerprint``."""
        import hashlib

        ident = f"{self.spec.name}:{self.path or self.config.source}:{self.distribution}"
        return "fp_" + hashlib.sha256(ident.encode()).hexdigest()[:12]


class ModelManager:
    def __init__(self, config: Config, plugins: Plugins):
        self.config = config
        self.plugins = plugins
        self.registry = plugins.registry
        self.cache_dir = config.data_path() / "models"
        self.base_dir = Path(config.base_dir)
        self.entries: dict[str, ModelEntry] = {}
        self._names: dict[str, ModelEntry] = {}
        self._reaper: asyncio.Task[None] | None = None
        for i, model in enumerate(config.models):
            entry = self._entry(i, model)
            self.entries[model.name] = entry
            for name in [model.name, *model.aliases]:
                self._names[name] = entry

    def _entry(self, index: int, model: ModelConfig) -> ModelEntry:
        spec = self.registry.get(model.backend)
        if spec is None:
            failed = self.plugins.failed(model.backend)
            if failed is not None:
                raise PluginError(
                    f"models[{index}] ({model.name!r}) uses backend {model.backend!r}, whose "
                    f"plugin from {failed.distribution} failed to load: {failed.error}"
                )
            available = ", ".join(self.registry.names()) or "none installed"
            raise ConfigError(
                f"plugins.toml: models[{index}].backend: unknown backend {model.backend!r} "
                f"(allowed: {available})",
                param=f"models[{index}].backend",
            )
        if spec.needs_source and not model.source:
            raise ConfigError(
                f"plugins.toml: models[{index}].source: backend {spec.name!r} needs a source "
                "(a path, pypi:, hf: or https:// URL)",
                param=f"models[{index}].source",
            )
        options = decode_options(model.options, spec.options, index=index)
        entry = ModelEntry(index, model, spec, options, self.registry.origin(spec.name))
        if model.source:
            _set_created(entry, cached_path(model.source, self.cache_dir, self.base_dir))
        return entry

    # --- names ----------------------------------------------------------------------

    def resolve(self, name: str) -> ModelEntry:
        entry = self._names.get(name)
        if entry is None:
            available = ", ".join(self.entries) or "none configured"
            raise ModelNotFound(f"model {name!r} not found; available: {available}", param="model")
        return entry

    async def load(self, entry: ModelEntry) -> None:
        """Load the model now if it is not loaded (a loaded model may narrow the features
        its options declare). Loading takes a place in the model's queue, so it counts
        against ``max_queue``."""
        if entry.model is None:
            async with self.admit(entry):
                await self._ensure_loaded(entry)

    def require(self, name: str, capability: Capability) -> ModelEntry:
        entry = self.resolve(name)
        if capability not in entry.capabilities:
            serves = ", ".join(sorted(entry.capabilities))
            raise InvalidRequest(
                f"model {name!r} does not serve {capability}; it serves: {serves}",
                param="model",
                code="model_not_supported",
            )
        return entry

    # --- sources and loading ----------------------------------------------------------

    def is_pulled(self, entry: ModelEntry) -> bool:
        if not entry.config.source:
            return True
        return cached_path(entry.config.source, self.cache_dir, self.base_dir).exists()

    def pull(self, entry: ModelEntry, progress: Progress | None = None) -> Path | None:
        """Fetch the model's source into the cache (blocking)."""
        if entry.config.source is None:
            return None
        entry.path = fetch(
            entry.config.source,
            self.cache_dir,
            self.base_dir,
            sha256=entry.config.sha256,
            progress=progress,
        )
        _set_created(entry, entry.path)
        return entry.path

    async def start(self) -> None:
        """Pull every model's source, load the eager ones, start the keep-alive reaper."""
        for entry in self.entries.values():
            if entry.config.load == "eager":
                try:
                    await self._ensure_loaded(entry)
                except ModelLoadFailed as exc:
                    log.error("model %r failed to load: %s", entry.name, exc.message)
        self._reaper = asyncio.create_task(self._reap_idle(), name="modelport-keep-alive")

    async def _ensure_loaded(self, entry: ModelEntry) -> object:
        if entry.model is not None:
            return entry.model
        async with entry.load_lock:
            if entry.model is not None:
                return entry.model
            if entry.state == "failed" and time.monotonic() - entry.failed_at < RETRY_FAILED_AFTER:
                raise ModelLoadFailed(f"model {entry.name!r} is unavailable: {entry.error}")
            entry.state = "loading"
            try:
                entry.model = await asyncio.to_thread(self._load_blocking, entry)
            except Exception as exc:
                entry.state, entry.failed_at = "failed", time.monotonic()
                if isinstance(exc, ModelportError):
                    entry.error = exc.message
                else:
                    log.exception("loading model %r failed", entry.name)
                    entry.error = f"{type(exc).__name__}: {exc}"
                raise ModelLoadFailed(
                    f"model {entry.name!r} failed to load: {entry.error}"
                ) from exc
            entry.state, entry.error = "loaded", None
            entry.features = entry.spec.model_features(entry.options, entry.model)
            entry.reasoning = effective_reasoning(
                entry.config.reasoning, getattr(entry.model, "reasoning", None)
            )
            entry.vocab_size = getattr(entry.model, "vocab_size", None)
            entry.last_used = time.monotonic()
            await self._evict_lru(keep=entry)
            return entry.model

    def load_context(self, entry: ModelEntry, path: Path | None) -> LoadContext:
        return LoadContext(
            name=entry.name,
            path=path,
            options=entry.options,
            defaults=entry.defaults,
            cache_dir=self.cache_dir,
            parallel=entry.config.parallel,
        )

    def prepare(self, entry: ModelEntry) -> Path | None:
        """Pull the source and run the backend's ``prepare`` step (blocking): what the
        first load would otherwise do, such as converting the model. None when the
        backend has nothing to prepare."""
        path = self.pull(entry)
        if entry.spec.prepare is None:
            return None
        return entry.spec.prepare(self.load_context(entry, path))

    def _load_blocking(self, entry: ModelEntry) -> object:
        path = self.pull(entry)
        started = time.monotonic()
        model = entry.spec.load(self.load_context(entry, path))
        _check_methods(entry, model)
        log.info(
            "loaded model %r (%s) in %.1fs", entry.name, entry.spec.name, time.monotonic() - started
        )
        return model

    async def unload(self, entry: ModelEntry) -> None:
        model, entry.model = entry.model, None
        entry.state = "unloaded"
        close = getattr(model, "close", None)
        if close is not None:
            await asyncio.to_thread(close)
        log.info("unloaded model %r", entry.name)

    async def _evict_lru(self, keep: ModelEntry) -> None:
        cap = self.config.server.max_loaded_models
        while True:
            loaded = [e for e in self.entries.values() if e.model is not None]
            idle = [e for e in loaded if e is not keep and _idle(e)]
            if len(loaded) <= cap or not idle:
                return
            await self._unload_quietly(min(idle, key=lambda e: e.last_used))

    async def _unload_quietly(self, entry: ModelEntry) -> None:
        """Unload, logging (not raising) a backend's failure to close."""
        try:
            await self.unload(entry)
        except Exception:
            log.exception("unloading model %r failed", entry.name)

    async def _reap_idle(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for entry in self.entries.values():
                if (
                    entry.model is not None
                    and entry.keep_alive is not None
                    and _idle(entry)
                    and now - entry.last_used > entry.keep_alive
                ):
                    await self._unload_quietly(entry)

    # --- serving --------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def admit(self, entry: ModelEntry) -> AsyncIterator[Admission]:
        """A place in the model's bounded queue, held until the request takes a slot
        (``Admission.seat``) or gives up. Work a request does before it needs the model,
        such as fetching its images, happens here, so it counts against ``max_queue``:
        at most ``max_queue`` requests wait beyond the free slots."""
        free = entry.config.parallel - entry.active
        if entry.waiting >= entry.config.max_queue + max(0, free):
            raise Overloaded(
                f"model {entry.name!r} is busy: {entry.waiting} requests already queued",
                retry_after=1.0,
            )
        admission = Admission(self, entry)
        entry.waiting += 1
        try:
            yield admission
        finally:
            if not admission.seated:
                entry.waiting -= 1

    @contextlib.asynccontextmanager
    async def borrow(self, entry: ModelEntry) -> AsyncIterator[Any]:
        """The loaded model without taking a slot, for quick work beside its requests
        (tokenizing): never unloaded meanwhile."""
        entry.borrowed += 1
        try:
            yield await self._ensure_loaded(entry)
        finally:
            entry.borrowed -= 1
            entry.last_used = time.monotonic()

    @contextlib.asynccontextmanager
    async def use(self, entry: ModelEntry) -> AsyncIterator[Any]:
        """Hold one of the model's slots (waiting in its bounded queue) while in use."""
        async with self.admit(entry) as admission, admission.seat() as model:
            yield model

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for entry in self.entries.values():
            if entry.model is not None:
                await self.unload(entry)


class Admission:
    """A request's place in a model's queue (see :meth:`ModelManager.admit`)."""

    def __init__(self, manager: ModelManager, entry: ModelEntry):
        self.manager = manager
        self.entry = entry
        self.seated = False

    @contextlib.asynccontextmanager
    async def seat(self) -> AsyncIterator[Any]:
        """Leave the queue for one of the model's slots, and hold the loaded model."""
        entry = self.entry
        try:
            await entry.slots.acquire()
        finally:
            entry.waiting -= 1
            self.seated = True
        entry.active += 1
        try:
            yield await self.manager._ensure_loaded(entry)
        finally:
            entry.active -= 1
            entry.last_used = time.monotonic()
            entry.slots.release()


def _check_methods(entry: ModelEntry, model: object) -> None:
    """A :class:`PluginError` naming each method the loaded model lacks for a capability
    its backend claims (closing the model first), instead of a failure on first use."""
    missing = sorted(
        f"{method}() for {capability}"
        for capability in entry.capabilities - entry.served_by_core
        for method in METHODS_OF[capability]
        if not callable(getattr(model, method, None))
    )
    if not missing:
        return
    close = getattr(model, "close", None)
    if callable(close):
        close()
    raise PluginError(
        f"backend {entry.spec.name!r} (from {entry.distribution}) claims "
        f"{', '.join(sorted(entry.capabilities))}, but its model object "
        f"{type(model).__name__} has no {', '.join(missing)}"
    )


def _idle(entry: ModelEntry) -> bool:
    busy = entry.active or entry.waiting or entry.borrowed
    return not busy and entry.model is not None


def _set_created(entry: ModelEntry, path: Path) -> None:
    """``created`` (``/v1/models``) is when the model file (or folder) was last modified,
    once it is on disk; until then, when the server started."""
    with contextlib.suppress(OSError):
        entry.created = int(path.stat().st_mtime)
