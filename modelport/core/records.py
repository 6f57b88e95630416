"""Stored records, bounded by age and count, safe under concurrency: in SQLite (a file
under the data directory, the default) or in PostgreSQL (``[server] store =
"postgresql://…"``, one database shared by every server process and replica), or served
by another process (on Ray, a store deployment: ``modelport.core.remote``).

Every kind of stored object (stored responses, stored chat completions, conversations)
is a table of records: an id, when it was stored, the model, its metadata and its body
(msgspec JSON made by its owner). Writes prune what is older than ``max_age`` and all
but the newest ``max_count`` of the kind; reads treat an expired record as gone.
Database calls run on the worker pool behind one lock per store (the event loop never
blocks on I/O), each in one transaction.
"""

from __future__ import annotations

import abc
import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import msgspec

from .config import Config
from .errors import ConfigError, MissingDependency, NotFound
from .worker import run_blocking

__all__ = [
    "STORE_FILE",
    "Location",
    "PostgresRecords",
    "Record",
    "RecordStore",
    "SqlRecords",
    "SqliteRecords",
    "open_records",
    "page",
    "store_location",
]

T = TypeVar("T")
_COLUMNS = "id, created_at, body, model, metadata"


class Record(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    body: bytes
    model: str = ""
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    created_at: float = 0.0  # (set when stored)


class RecordStore(abc.ABC):
    """The records of one kind: ``max_age`` seconds (None: no age limit) and
    ``max_count`` records at most. ``noun`` names a record in errors ("response"),
    ``param`` the request field that names its id."""

    def __init__(self, *, max_age: float | None, max_count: int, noun: str, param: str):
        self.max_age, self.max_count = max_age, max_count
        self.noun, self.param = noun, param

    def not_found(self, record_id: str) -> NotFound:
        return NotFound(
            f"{self.noun} {record_id!r} not found; it was never stored, was deleted, or "
            "has expired",
            param=self.param,
            code="not_found",
        )

    @abc.abstractmethod
    async def put(self, record: Record) -> Record:
        """Store (or replace, keeping its time) ``record``; prune what is over the bounds.
        Returns it with the time it was first stored."""

    @abc.abstractmethod
    async def get(self, record_id: str) -> Record:
        """The record; ``NotFound`` when unknown, deleted or expired."""

    @abc.abstractmethod
    async def list(
        self,
        *,
        model: str | None = None,
        metadata: dict[str, str] | None = None,
        order: Literal["asc", "desc"] = "asc",
    ) -> list[Record]:
        """Every live record, oldest first (``asc``) or newest first, of ``model`` and
        with every pair of ``metadata``."""

    @abc.abstractmethod
    async def delete(self, record_id: str) -> None:
        """Delete the record; ``NotFound`` when there is none."""

    @abc.abstractmethod
    async def count(self) -> int: ...

    @abc.abstractmethod
    def close(self) -> None: ...


class SqlRecords(RecordStore):
    """Records in table ``table`` of an SQL database. Subclasses give the connection and
    the dialect (``?`` or ``%s`` placeholders, the upsert)."""

    placeholder = "?"

    def __init__(self, table: str, **bounds: Any):
        if not re.fullmatch(r"[a-z_]+", table):
            raise ValueError(f"bad table name {table!r}")
        super().__init__(**bounds)
        self.table = table
        self._lock = threading.Lock()
        self._db: Any = None  # the connection, opened on first use

    @abc.abstractmethod
    def _transaction(self, fn: Callable[[Any], T]) -> T:
        """``fn(cursor)`` in one transaction (committed, or rolled back on error)."""

    def _upsert(self) -> str:
        """Insert a record, or replace its body, model and metadata (keeping when it was
        first stored); returns ``created_at``."""
        return self._sql(
            f"INSERT INTO {self.table} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET body = excluded.body, model = excluded.model, "
            "metadata = excluded.metadata RETURNING created_at"
        )

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    async def _run(self, fn: Callable[[Any], T]) -> T:
        def locked() -> T:
            with self._lock:
                return self._transaction(fn)

        return await run_blocking(locked)

    def _sql(self, text: str) -> str:
        return text.replace("?", self.placeholder)

    def _cutoff(self) -> float:
        return float("-inf") if self.max_age is None else time.time() - self.max_age

    async def put(self, record: Record) -> Record:
        t, sql = self.table, self._sql

        def write(cur: Any) -> float:
            cur.execute(
                self._upsert(),
                (record.id, time.time(), record.body, record.model, json.dumps(record.metadata)),
            )
            created = float(cur.fetchone()[0])
            cur.execute(sql(f"DELETE FROM {t} WHERE created_at < ?"), (self._cutoff(),))
            cur.execute(
                sql(
                    f"DELETE FROM {t} WHERE id NOT IN "
                    f"(SELECT id FROM {t} ORDER BY created_at DESC LIMIT ?)"
                ),
                (self.max_count,),
            )
            return created

        created = await self._run(write)
        return msgspec.structs.replace(record, created_at=created)

    async def get(self, record_id: str) -> Record:
        query = self._sql(f"SELECT {_COLUMNS} FROM {self.table} WHERE id = ? AND created_at >= ?")

        def read(cur: Any) -> tuple[Any, ...] | None:
            cur.execute(query, (record_id, self._cutoff()))
            row: tuple[Any, ...] | None = cur.fetchone()
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
        direction = "ASC" if order == "asc" else "DESC"
        query = f"SELECT {_COLUMNS} FROM {self.table} WHERE created_at >= ?"
        args: list[Any] = [self._cutoff()]
        if model is not None:
            query += " AND model = ?"
            args.append(model)
        query = self._sql(query + f" ORDER BY created_at {direction}, id {direction}")

        def read(cur: Any) -> list[tuple[Any, ...]]:
            cur.execute(query, args)
            rows: list[tuple[Any, ...]] = cur.fetchall()
            return rows

        records = [_record(row) for row in await self._run(read)]
        wanted = (metadata or {}).items()
        return [r for r in records if all(r.metadata.get(k) == v for k, v in wanted)]

    async def delete(self, record_id: str) -> None:
        query = self._sql(f"DELETE FROM {self.table} WHERE id = ?")

        def remove(cur: Any) -> int:
            cur.execute(query, (record_id,))
            return int(cur.rowcount)

        if not await self._run(remove):
            raise self.not_found(record_id)

    async def count(self) -> int:
        def read(cur: Any) -> int:
            cur.execute(f"SELECT COUNT(*) FROM {self.table}")
            return int(cur.fetchone()[0])

        return await self._run(read)


class SqliteRecords(SqlRecords):
    """Records in the SQLite file ``path`` (WAL mode: other processes and stores read
    while one writes)."""

    def __init__(self, path: Path, table: str, **bounds: Any):
        super().__init__(table, **bounds)
        self.path = path

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
        connection: sqlite3.Connection = self._db
        return connection

    def _transaction(self, fn: Callable[[Any], T]) -> T:
        db = self._connect()
        with db:
            return fn(db.cursor())


class PostgresRecords(SqlRecords):
    """Records in the PostgreSQL database at ``url`` (psycopg 3), one table per kind;
    a connection lost between calls is opened again."""

    placeholder = "%s"

    def __init__(self, url: str, table: str, **bounds: Any):
        super().__init__(table, **bounds)
        self.url = url

    def _connect(self) -> Any:
        if self._db is None or self._db.closed:
            try:
                import psycopg
            except ImportError:
                raise MissingDependency(
                    "a postgresql:// store needs psycopg: pip install 'modelport[postgres]'"
                ) from None
            db = psycopg.connect(self.url, connect_timeout=10)
            t = self.table
            with db.transaction():
                db.execute(
                    f"CREATE TABLE IF NOT EXISTS {t} (id TEXT PRIMARY KEY, "
                    "created_at DOUBLE PRECISION NOT NULL, body BYTEA NOT NULL, "
                    "model TEXT NOT NULL DEFAULT '', metadata TEXT NOT NULL DEFAULT '{}')"
                )
                db.execute(f"CREATE INDEX IF NOT EXISTS {t}_created_at ON {t} (created_at)")
            self._db = db
        return self._db

    def _transaction(self, fn: Callable[[Any], T]) -> T:
        """``fn`` in one transaction; a connection found broken (the server restarted,
        a proxy dropped it) is opened again and the transaction run once more."""
        for attempt in (1, 2):
            db = self._connect()
            try:
                with db.transaction(), db.cursor() as cur:
                    return fn(cur)
            except Exception:
                if not (db.closed or db.broken):
                    raise
                self._db = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


# Where a store's records are: the path of an SQLite file, a ``postgresql://`` URL, or
# a function that opens the records of a table elsewhere (``open(table, **bounds)``:
# a store served by another process, ``modelport.core.remote.RemoteStore``).
Location = Path | str | Callable[..., RecordStore]

# The SQLite file of every stored object, in the data directory.
STORE_FILE = "responses.sqlite3"


def store_location(config: Config) -> Path | str:
    """Where a server keeps its stored objects: ``[server] store`` (a ``postgresql://``
    URL), else the SQLite file in the data directory."""
    return config.server.store_url() or config.data_path() / STORE_FILE


def open_records(location: Location, table: str, **bounds: Any) -> RecordStore:
    """The store of ``table`` at ``location``."""
    if isinstance(location, Path):
        return SqliteRecords(location, table, **bounds)
    if isinstance(location, str):
        if not location.startswith(("postgresql://", "postgres://")):
            raise ConfigError(f"store {location!r}: not a postgresql:// URL", param="server.store")
        return PostgresRecords(location, table, **bounds)
    return location(table, **bounds)


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
