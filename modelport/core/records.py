"""Stored records in SQLite, bounded by age and count, safe under concurrency.

One file under the data directory holds every kind of stored object, a table per kind
(stored responses, stored chat completions, conversations): each record is an id, when
it was stored, the model, its metadata and its body (msgspec JSON made by its owner).
Writes prune what is older than ``max_age`` and all but the newest ``max_count`` of the
kind; reads treat an expired record as gone. SQLite calls run on the worker pool behind
one lock per store (the event loop never blocks on disk); WAL mode lets other processes
and stores read while one writes.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import msgspec

from .errors import NotFound
from .worker import run_blocking

__all__ = ["Record", "RecordStore", "page"]

T = TypeVar("T")


class Record(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    body: bytes
    model: str = ""
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    created_at: float = 0.0  # (set when stored)


class RecordStore:
    """The records of one kind: table ``table`` of the SQLite file ``path``; ``max_age``
    seconds (None: no age limit) and ``max_count`` records at most. ``noun`` names a
    record in errors ("response"), ``param`` the request field that names its id."""

    def __init__(
        self,
        path: Path,
        table: str,
        *,
        max_age: float | None,
        max_count: int,
        noun: str,
        param: str,
    ):
        if not re.fullmatch(r"[a-z_]+", table):
            raise ValueError(f"bad table name {table!r}")
        self.path, self.table = path, table
        self.max_age, self.max_count = max_age, max_count
        self.noun, self.param = noun, param
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            t = self.table
            db.executescript(
                f"CREATE TABLE IF NOT EXISTS {t} (id TEXT PRIMARY KEY, "
                "created_at REAL NOT NULL, body BLOB NOT NULL, "
                "model TEXT NOT NULL DEFAULT '', metadata TEXT NOT NULL DEFAULT '{}');"
                f"CREATE INDEX IF NOT EXISTS {t}_created_at ON {t} (created_at);"
            )
            columns = {row[1] for row in db.execute(f"PRAGMA table_info({t})")}
            for column in ("model", "metadata"):  # a file written before they existed
                if column not in columns:
                    default = "'{}'" if column == "metadata" else "''"
                    db.execute(
                        f"ALTER TABLE {t} ADD COLUMN {column} TEXT NOT NULL DEFAULT {default}"
                    )
            self._db = db
        return self._db

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._lock:
                db = self._connect()
                with db:  # one transaction: committed, or rolled back on error
                    return fn(db)

        return await run_blocking(locked)

    def _cutoff(self) -> float:
        return float("-inf") if self.max_age is None else time.time() - self.max_age

    def not_found(self, record_id: str) -> NotFound:
        return NotFound(
            f"{self.noun} {record_id!r} not found; it was never stored, was deleted, or "
            "has expired",
            param=self.param,
            code="not_found",
        )

    async def put(self, record: Record) -> Record:
        """Store (or replace, keeping its time) ``record``; prune what is over the bounds."""
        t = self.table
        now = time.time()

        def write(db: sqlite3.Connection) -> float:
            row = db.execute(f"SELECT created_at FROM {t} WHERE id = ?", (record.id,)).fetchone()
            created = float(row[0]) if row is not None else now
            db.execute(
                f"INSERT OR REPLACE INTO {t} (id, created_at, body, model, metadata) "
                "VALUES (?, ?, ?, ?, ?)",
                (record.id, created, record.body, record.model, json.dumps(record.metadata)),
            )
            db.execute(f"DELETE FROM {t} WHERE created_at < ?", (self._cutoff(),))
            db.execute(
                f"DELETE FROM {t} WHERE id NOT IN "
                f"(SELECT id FROM {t} ORDER BY created_at DESC LIMIT ?)",
                (self.max_count,),
            )
            return created

        created = await self._run(write)
        return msgspec.structs.replace(record, created_at=created)

    async def get(self, record_id: str) -> Record:
        """The record; ``NotFound`` when unknown, deleted or expired."""
        t = self.table

        def read(db: sqlite3.Connection) -> tuple[Any, ...] | None:
            row: tuple[Any, ...] | None = db.execute(
                f"SELECT id, created_at, body, model, metadata FROM {t} "
                "WHERE id = ? AND created_at >= ?",
                (record_id, self._cutoff()),
            ).fetchone()
            return row

        row = await self._run(read)
        if row is None:
            raise self.not_found(record_id)
        return _record(row)

    async def list(
        self,
        *,
        model: str | None = None,
        metadata: dict[str, str] | None = None,
        order: Literal["asc", "desc"] = "asc",
    ) -> list[Record]:
        """Every live record, oldest first (``asc``) or newest first, of ``model`` and
        with every pair of ``metadata``."""
        t, direction = self.table, "ASC" if order == "asc" else "DESC"

        def read(db: sqlite3.Connection) -> list[tuple[Any, ...]]:
            query = f"SELECT id, created_at, body, model, metadata FROM {t} WHERE created_at >= ?"
            args: list[object] = [self._cutoff()]
            if model is not None:
                query += " AND model = ?"
                args.append(model)
            rows: list[tuple[Any, ...]] = db.execute(
                query + f" ORDER BY created_at {direction}, rowid {direction}", args
            ).fetchall()
            return rows

        records = [_record(row) for row in await self._run(read)]
        wanted = (metadata or {}).items()
        return [r for r in records if all(r.metadata.get(k) == v for k, v in wanted)]

    async def delete(self, record_id: str) -> None:
        t = self.table

        def remove(db: sqlite3.Connection) -> int:
            return db.execute(f"DELETE FROM {t} WHERE id = ?", (record_id,)).rowcount

        if not await self._run(remove):
            raise self.not_found(record_id)

    async def count(self) -> int:
        t = self.table

        def read(db: sqlite3.Connection) -> int:
            return int(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])

        return await self._run(read)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _record(row: tuple[Any, ...]) -> Record:
    record_id, created, body, model, metadata = row
    return Record(
        id=str(record_id),
        created_at=float(created),
        body=bytes(body),
        model=str(model),
        metadata=json.loads(str(metadata)),
    )


def page(
    items: Sequence[T], *, after: str | None, limit: int, id_of: Callable[[T], str]
) -> tuple[list[T], bool]:
    """One page of a list API: the items after the one whose id is ``after`` (from the
    start when None; none when it is unknown), at most ``limit``, and whether more
    follow."""
    rest = list(items)
    if after is not None:
        ids = [id_of(item) for item in rest]
        rest = rest[ids.index(after) + 1 :] if after in ids else []
    return rest[:limit], len(rest) > limit
