"""The record store under every stored object, the same tests on SQLite and on a real
PostgreSQL server: upsert keeps the first time, filters, order, pages; PostgreSQL
reconnects after losing its connection."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from modelport.core.errors import NotFound
from modelport.core.records import (
    Location,
    PostgresRecords,
    Record,
    RecordStore,
    open_records,
    page,
)


def _store(location: Location) -> RecordStore:
    return open_records(
        location, "things", max_age=None, max_count=100, noun="thing", param="thing_id"
    )


def test_upsert_filters_order_and_delete(store_location: Location) -> None:
    async def main() -> None:
        store = _store(store_location)
        first = await store.put(Record(id="a", body=b"1", model="m", metadata={"k": "x"}))
        await store.put(Record(id="b", body=b"2", model="n", metadata={"k": "y"}))
        again = await store.put(Record(id="a", body=b"3", model="m", metadata={"k": "z"}))
        assert again.created_at == first.created_at  # replaced, not re-stamped
        got = await store.get("a")
        assert (got.body, got.metadata) == (b"3", {"k": "z"})
        assert [r.id for r in await store.list()] == ["a", "b"]
        assert [r.id for r in await store.list(order="desc")] == ["b", "a"]
        assert [r.id for r in await store.list(model="n")] == ["b"]
        assert [r.id for r in await store.list(metadata={"k": "z"})] == ["a"]
        await store.delete("a")
        with pytest.raises(NotFound) as info:
            await store.get("a")
        assert info.value.param == "thing_id" and "thing 'a'" in info.value.message
        store.close()

    asyncio.run(main())


def test_postgres_reconnects_after_losing_its_connection(postgres_database: str) -> None:
    async def main() -> None:
        store = _store(postgres_database)
        assert isinstance(store, PostgresRecords)
        await store.put(Record(id="a", body=b"1"))
        pid = store._db.info.backend_pid  # the connection to cut
        with psycopg.connect(postgres_database, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert (await store.get("a")).body == b"1"  # a new connection, transparently
        store.close()

    asyncio.run(main())


def test_page() -> None:
    items = ["a", "b", "c"]
    assert page(items, after=None, limit=2, id_of=str) == (["a", "b"], True)
    assert page(items, after="b", limit=2, id_of=str) == (["c"], False)
    assert page(items, after="zz", limit=2, id_of=str) == ([], False)
