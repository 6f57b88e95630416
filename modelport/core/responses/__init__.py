"""The Responses API in core: its conversation items, request and events (``items``),
its default implementation over any chat model (``over_chat``), and the store of
responses (``store``)."""

from __future__ import annotations

from .items import RespondRequest, ResponseEvent, StoredResponse
from .over_chat import ChatResponder
from .store import ResponseStore

__all__ = ["ChatResponder", "RespondRequest", "ResponseEvent", "ResponseStore", "StoredResponse"]
