"""Conversations (OpenAI's Conversations API): a stored, growing list of items that
responses read as their context and append their input and output to.

Stored as records (``modelport.core.records``) in the server's store, beside the stored
responses, with the same bounds. Changes to one conversation are serialised
(read, change, write under one lock), so concurrent appends never lose items.
"""

from __future__ import annotations

import asyncio
import time

import msgspec

from ..errors import InvalidRequest, NotFound
from ..records import Location, Record, open_records
from .items import Item

__all__ = ["MAX_NEW_ITEMS", "Conversation", "ConversationStore"]

MAX_NEW_ITEMS = 20  # items a client may add at once (OpenAI's limit)


class Conversation(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    created_at: int
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    items: tuple[Item, ...] = ()

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise NotFound(
            f"item {item_id!r} not found in conversation {self.id!r}",
            param="item_id",
            code="not_found",
        )


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Conversation)


class ConversationStore:
    """Conversations at ``location`` (an SQLite file, a ``postgresql://`` URL, or a store
    served elsewhere), with
    the bounds of the response store."""

    def __init__(self, location: Location, *, max_age: float | None, max_count: int):
        self.records = open_records(
            location,
            "conversations",
            max_age=max_age,
            max_count=max_count,
            noun="conversation",
            param="conversation_id",
        )
        self._lock = asyncio.Lock()

    async def _put(self, conversation: Conversation) -> Conversation:
        record = Record(
            id=conversation.id, body=_encoder.encode(conversation), metadata=conversation.metadata
        )
        await self.records.put(record)
        return conversation

    async def create(
        self, conversation_id: str, items: tuple[Item, ...], metadata: dict[str, str]
    ) -> Conversation:
        _check_new(items)
        conversation = Conversation(
            id=conversation_id, created_at=int(time.time()), metadata=metadata, items=items
        )
        async with self._lock:
            return await self._put(conversation)

    async def get(self, conversation_id: str) -> Conversation:
        """The conversation; ``NotFound`` naming ``conversation_id`` when unknown,
        deleted or expired."""
        return _decoder.decode((await self.records.get(conversation_id)).body)

    async def update(
        self,
        conversation_id: str,
        *,
        metadata: dict[str, str] | None = None,
        add: tuple[Item, ...] = (),
        remove: str | None = None,
        limit_new: bool = True,
    ) -> Conversation:
        """Change the conversation: replace its metadata, append ``add``, drop the item
        ``remove``. ``limit_new``: at most ``MAX_NEW_ITEMS`` are added (a response's own
        input and output are not limited)."""
        if limit_new:
            _check_new(add)
        async with self._lock:
            conversation = await self.get(conversation_id)
            items = conversation.items
            if remove is not None:
                conversation.item(remove)  # NotFound when it is not there
                items = tuple(i for i in items if i.id != remove)
            known = {i.id for i in items}
            clash = next((i.id for i in add if i.id in known), None)
            if clash is not None:
                raise InvalidRequest(
                    f"conversation {conversation_id!r} already has an item {clash!r}",
                    param="items",
                    code="invalid_value",
                )
            changed = msgspec.structs.replace(
                conversation,
                items=(*items, *add),
                metadata=conversation.metadata if metadata is None else metadata,
            )
            return await self._put(changed)

    async def delete(self, conversation_id: str) -> None:
        async with self._lock:
            await self.records.delete(conversation_id)

    def close(self) -> None:
        self.records.close()


def _check_new(items: tuple[Item, ...]) -> None:
    if len(items) > MAX_NEW_ITEMS:
        raise InvalidRequest(
            f"at most {MAX_NEW_ITEMS} items can be added at a time; got {len(items)}",
            param="items",
            code="array_above_max_length",
        )
