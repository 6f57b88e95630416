"""The model manager with the fake backend: lazy load, LRU cap, keep-alive, bounded queue."""

from __future__ import annotations

import asyncio

import pytest

from modelport.core.config import decode_config
from modelport.core.errors import ModelNotFound, Overloaded
from modelport.core.manager import ModelManager
from modelport.core.plugins import load_plugins
from modelport.core.service import ModelService
from modelport.core.types import ChatRequest, Message, Sampling
from modelport.testing.fake import FakePlugin


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
