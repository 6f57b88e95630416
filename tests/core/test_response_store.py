"""The response store: round trip, bounds, concurrency, persistence; the same tests on
SQLite and on a real PostgreSQL server (``store_location``, see conftest.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from modelport.core.errors import NotFound
from modelport.core.records import Location
from modelport.core.responses.items import MessageItem, RespondRequest, StoredResponse
from modelport.core.responses.store import ResponseStore
from modelport.core.types import TextPart, Usage


def _response(i: int) -> StoredResponse:
    item = MessageItem(id=f"msg_{i}", role="user", content=(TextPart(text=f"hi {i}"),))
    return StoredResponse(
        id=f"resp_{i}",
        created_at=int(time.time()),
        request=RespondRequest(model="m", input=(item,), metadata={"n": str(i)}),
        status="completed",
        usage=Usage(prompt_tokens=3, completion_tokens=4),
    )


def test_round_trip_delete_and_reopen(store_location: Location) -> None:
    async def main() -> None:
        store = ResponseStore(store_location, max_age=None, max_count=10)
        await store.put(_response(1))
        got = await store.get("resp_1")
        assert got.request.metadata == {"n": "1"} and got.usage == Usage(
            prompt_tokens=3, completion_tokens=4
        )
        store.close()
        reopened = ResponseStore(store_location, max_age=None, max_count=10)
        assert (await reopened.get("resp_1")).id == "resp_1"
        await reopened.delete("resp_1")
        with pytest.raises(NotFound):
            await reopened.get("resp_1")
        with pytest.raises(NotFound):
            await reopened.delete("resp_1")
        reopened.close()

    asyncio.run(main())


def test_pruned_by_count_on_write(store_location: Location) -> None:
    async def main() -> None:
        store = ResponseStore(store_location, max_age=None, max_count=3)
        for i in range(6):
            await store.put(_response(i))
        assert await store.count() == 3
        with pytest.raises(NotFound):
            await store.get("resp_2")
        assert (await store.get("resp_5")).id == "resp_5"
        store.close()

    asyncio.run(main())


def test_expired_responses_are_gone(store_location: Location) -> None:
    async def main() -> None:
        store = ResponseStore(store_location, max_age=0.05, max_count=100)
        await store.put(_response(1))
        assert (await store.get("resp_1")).id == "resp_1"
        await asyncio.sleep(0.1)
        with pytest.raises(NotFound, match="expired"):
            await store.get("resp_1")
        await store.put(_response(2))  # the write prunes the expired one
        assert await store.count() == 1
        store.close()

    asyncio.run(main())


def test_concurrent_writes_and_reads(store_location: Location) -> None:
    async def main() -> None:
        store = ResponseStore(store_location, max_age=None, max_count=1000)
        await asyncio.gather(*(store.put(_response(i)) for i in range(40)))
        got = await asyncio.gather(*(store.get(f"resp_{i}") for i in range(40)))
        assert [g.id for g in got] == [f"resp_{i}" for i in range(40)]
        assert await store.count() == 40
        store.close()

    asyncio.run(main())
