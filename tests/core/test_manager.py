"""The model manager with the fake backend: lazy load, LRU cap, keep-alive, bounded queue."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from modelport.core.capabilities import Feature
from modelport.core.config import decode_config
from modelport.core.errors import ModelLoadFailed, ModelNotFound, Overloaded, Unsupported
from modelport.core.manager import ModelManager
from modelport.core.plugins import load_plugins
from modelport.core.service import ModelService
from modelport.core.types import ChatRequest, Message, Sampling
from modelport.testing.fake import FakeOptions, FakePlugin


def _manager(toml: str) -> ModelManager:
    plugins = load_plugins(entry_points=False, extra=[("fake", FakePlugin())])
    plugins.collect_backends()
    return ModelManager(decode_config(toml), plugins)


MODELS = """
[server]
max_loaded_models = 1
[[models]]
name = "a"
backend = "fake"
aliases = ["alpha"]
[[models]]
name = "b"
backend = "fake"
keep_alive = "1s"
"""


async def test_lazy_load_and_lru_cap() -> None:
    manager = _manager(MODELS)
    a, b = manager.resolve("alpha"), manager.resolve("b")
    assert a.model is None and b.model is None
    async with manager.use(a):
        pass
    assert a.state == "loaded"
    async with manager.use(b):
        pass
    assert b.state == "loaded"
    assert a.state == "unloaded", "the least recently used model was unloaded"
    await manager.close()


async def test_keep_alive_unloads_idle_models() -> None:
    manager = _manager(MODELS)
    await manager.start()
    b = manager.resolve("b")
    async with manager.use(b):
        pass
    assert b.state == "loaded"
    for _ in range(40):
        await asyncio.sleep(0.1)
        if b.state == "unloaded":
            break
    assert b.state == "unloaded"
    await manager.close()


async def test_unknown_name_lists_available() -> None:
    manager = _manager(MODELS)
    with pytest.raises(ModelNotFound, match="available: a, b"):
        manager.resolve("c")


async def test_full_queue_is_overloaded() -> None:
    manager = _manager(
        '[[models]]\nname = "a"\nbackend = "fake"\nmax_queue = 1\n[models.options]\ndelay = 0.05\n'
    )
    service = ModelService(manager)
    req = ChatRequest(
        model="a", messages=(Message(role="user", content="w " * 10),), sampling=Sampling()
    )

    async def run() -> str:
        text = ""
        async for event in service.chat(req):
            text += getattr(event, "text", "")
        return text

    results = await asyncio.gather(run(), run(), run(), return_exceptions=True)
    overloaded = [r for r in results if isinstance(r, Overloaded)]
    assert len(overloaded) == 1, results
    assert sum(isinstance(r, str) for r in results) == 2
    await manager.close()


async def test_closing_a_stream_frees_the_slot() -> None:
    manager = _manager('[[models]]\nname = "a"\nbackend = "fake"\n[models.options]\ndelay = 0.01\n')
    service = ModelService(manager)
    req = ChatRequest(model="a", messages=(Message(role="user", content="w " * 100),))
    events = service.chat(req)
    await anext(events)
    await anext(events)
    entry = manager.resolve("a")
    assert entry.active == 1
    await events.aclose()
    assert entry.active == 0
    assert entry.model.active == 0  # type: ignore[union-attr]
    await manager.close()


async def test_work_before_a_slot_counts_against_the_queue_bound() -> None:
    """Requests admitted but not yet seated (fetching their images) fill the queue even
    while slots are free: at most ``max_queue`` beyond the free slots."""
    manager = _manager('[[models]]\nname = "a"\nbackend = "fake"\nparallel = 2\nmax_queue = 1\n')
    entry = manager.resolve("a")
    async with manager.admit(entry), manager.admit(entry), manager.admit(entry):
        assert entry.waiting == 3
        with pytest.raises(Overloaded, match="3 requests already queued"):
            async with manager.admit(entry):
                pass
    assert entry.waiting == 0
    async with manager.admit(entry) as admission, admission.seat():
        assert (entry.waiting, entry.active) == (0, 1)
    assert (entry.waiting, entry.active) == (0, 0)
    await manager.close()


async def test_a_lazy_models_first_request_is_checked_against_the_loaded_model() -> None:
    """The options declare ``seed``; the loaded model narrows it away. The very first
    request to the lazy model, before anything loaded it, is refused by name."""
    manager = _manager(
        '[[models]]\nname = "a"\nbackend = "fake"\nload = "lazy"\n'
        '[models.options]\ndeclare = ["seed", "token_input"]\nnarrow = ["token_input"]\n'
    )
    service = ModelService(manager)
    entry = manager.resolve("a")
    assert entry.model is None and Feature.SEED in entry.features
    seeded = ChatRequest(
        model="a", messages=(Message(role="user", content="hi"),), sampling=Sampling(seed=7)
    )
    with pytest.raises(Unsupported) as info:
        await anext(service.chat(seeded))
    assert info.value.param == "seed"
    assert entry.model is not None and Feature.SEED not in entry.features
    plain = ChatRequest(model="a", messages=(Message(role="user", content="hi"),))
    assert [e async for e in service.chat(plain)][-1].reason == "stop"  # type: ignore[union-attr]
    await manager.close()


class _NoEmbed:
    closed = False

    def chat(self, request: ChatRequest) -> Any:
        raise AssertionError("not called")

    def close(self) -> None:
        _NoEmbed.closed = True


async def test_a_model_without_a_claimed_capability_method_is_a_load_error() -> None:
    from modelport.core import BackendRegistry, BackendSpec, Capability, hookimpl

    class Broken:
        @hookimpl
        def register_backends(self, registry: BackendRegistry) -> None:
            registry.add(
                BackendSpec(
                    name="broken",
                    options=FakeOptions,
                    capabilities=frozenset({Capability.CHAT, Capability.EMBED}),
                    load=lambda ctx: _NoEmbed(),
                    needs_source=False,
                )
            )

    plugins = load_plugins(entry_points=False, extra=[("broken", Broken())])
    plugins.collect_backends()
    manager = ModelManager(decode_config('[[models]]\nname = "b"\nbackend = "broken"\n'), plugins)
    with pytest.raises(ModelLoadFailed) as info:
        await manager.load(manager.resolve("b"))
    assert "claims chat, embed, but its model object _NoEmbed has no embed() for embed" in str(
        info.value
    )
    assert _NoEmbed.closed
    assert manager.resolve("b").state == "failed"
