"""The Responses API store: stored responses as records (``modelport.core.records``) in
the server's store (SQLite or PostgreSQL), bounded by age and count, safe under
concurrency."""

from __future__ import annotations

import msgspec

from ..records import Location, Record, open_records
from .items import StoredResponse

__all__ = ["ResponseStore"]

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(StoredResponse)


class ResponseStore:
    """Stored responses at ``location`` (an SQLite file, a ``postgresql://`` URL, or a store
    served elsewhere);
    ``max_age`` seconds (None: no age limit) and ``max_count`` responses at most."""

    def __init__(self, location: Location, *, max_age: float | None, max_count: int):
        self.records = open_records(
            location,
            "responses",
            max_age=max_age,
            max_count=max_count,
            noun="response",
            param="response_id",
        )

    async def put(self, response: StoredResponse) -> None:
        """Store (or replace) ``response`` and prune what is over the bounds."""
        record = Record(
            id=response.id,
            body=_encoder.encode(response),
            model=response.request.model,
            metadata=response.request.metadata,
        )
        await self.records.put(record)

    async def get(self, response_id: str) -> StoredResponse:
        """The stored response; ``NotFound`` when unknown, deleted or expired (or never
        stored: ``store`` false)."""
        return _decoder.decode((await self.records.get(response_id)).body)

    async def delete(self, response_id: str) -> None:
        await self.records.delete(response_id)

    async def count(self) -> int:
        return await self.records.count()

    def close(self) -> None:
        self.records.close()
