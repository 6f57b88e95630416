"""The model objects of ``/v1/models``, shaped to validate against OpenAI's spec."""

from __future__ import annotations

from typing import Any, Literal

from msgspec import UNSET, UnsetType

from ..common import (
    Out,
)

__all__ = ["ModelList", "ModelObject"]


class ModelObject(Out, kw_only=True):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    # Extensions: what this model serves and which request features it honours.
    backend: str | UnsetType = UNSET
    aliases: list[str] | UnsetType = UNSET
    capabilities: dict[str, Any] | UnsetType = UNSET


class ModelList(Out, kw_only=True):
    object: Literal["list"] = "list"
    data: list[ModelObject]
