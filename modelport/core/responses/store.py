"""The Responses API store: SQLite, bounded by age and count, safe under concurrency.

One file under the data directory holds every stored response as msgspec JSON. Writes
prune what is older than ``max_age`` and all but the newest ``max_count``; reads treat
an expired response as gone. SQLite calls run on the worker pool behind one lock (the
event loop never blocks on disk); WAL mode lets other processes read while one writes.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import msgspec

from ..errors import NotFound
from ..worker import run_blocking
from .items import StoredResponse

__all__ = ["ResponseStore"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_created_at ON responses (created_at);
"""

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(StoredResponse)


class ResponseStore:
    """Stored responses in the SQLite file ``path``; ``max_age`` seconds (None: no age
    limit) and ``max_count`` responses at most."""

    def __init__(self, path: Path, *, max_age: float | None, max_count: int):
        self.path = path
        self.max_age = max_age
        self.max_count = max_count
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
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

    async def put(self, response: StoredResponse) -> None:
        """Store (or replace) ``response`` and prune what is over the bounds."""
        body = _encoder.encode(response)

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO responses (id, created_at, body) VALUES (?, ?, ?)",
                (response.id, time.time(), body),
            )
            db.execute("DELETE FROM responses WHERE created_at < ?", (self._cutoff(),))
            db.execute(
                "DELETE FROM responses WHERE id NOT IN "
                "(SELECT id FROM responses ORDER BY created_at DESC LIMIT ?)",
                (self.max_count,),
            )

        await self._run(write)

    async def get(self, response_id: str) -> StoredResponse:
        """The stored response; ``NotFound`` when unknown, deleted or expired."""

        def read(db: sqlite3.Connection) -> bytes | None:
            row = db.execute(
                "SELECT body FROM responses WHERE id = ? AND created_at >= ?",
                (response_id, self._cutoff()),
            ).fetchone()
            return None if row is None else bytes(row[0])

        body = await self._run(read)
        if body is None:
            raise _not_found(response_id)
        return _decoder.decode(body)

    async def delete(self, response_id: str) -> None:
        def remove(db: sqlite3.Connection) -> int:
            return db.execute("DELETE FROM responses WHERE id = ?", (response_id,)).rowcount

        if not await self._run(remove):
            raise _not_found(response_id)

    async def count(self) -> int:
        def read(db: sqlite3.Connection) -> int:
            return int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

        return await self._run(read)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _not_found(response_id: str) -> NotFound:
    return NotFound(
        f"response {response_id!r} not found; it was never stored (store=false), was "
        "deleted, or has expired",
        param="response_id",
        code="not_found",
    )
