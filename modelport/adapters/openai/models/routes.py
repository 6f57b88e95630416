"""The routes: the configured models and their state."""

from __future__ import annotations

import msgspec
from litestar import Response, get
from litestar.params import FromPath

from modelport.core.features import Feature
from modelport.core.manager import ModelEntry

from ..common import (
    HttpRequest,
    service_of,
)
from .objects import ModelList, ModelObject

__all__ = ["ROUTES"]


def _reasoning(entry: ModelEntry) -> dict[str, object] | None:
    """How a reasoning model marks its thinking and what its efforts mean: the
    thinking-token budget of each (None: no limit), when its backend can bound it."""
    thinking = entry.reasoning
    if thinking is None:
        return None
    out: dict[str, object] = {
        "start": thinking.start,
        "end": thinking.end,
        "opened_by_template": thinking.opened_by_template,
        "switch": thinking.switch,
    }
    if Feature.REASONING in entry.features:
        out["efforts"] = {"none": 0, **msgspec.structs.asdict(thinking.budgets)}
        out["default_effort"] = thinking.effort
    return out


def _model_object(entry: ModelEntry) -> ModelObject:
    reasoning = _reasoning(entry)
    return ModelObject(
        id=entry.name,
        created=entry.created,
        owned_by=entry.config.owned_by,
        backend=entry.spec.name,
        aliases=list(entry.config.aliases),
        capabilities={
            "serves": sorted(entry.capabilities),
            "features": sorted(entry.features),
            "state": entry.state,
            # Why it failed to load (None unless its state is "failed").
            "error": entry.error,
            # Requests holding one of its slots, and waiting for one.
            "active": entry.active,
            "queued": entry.waiting,
            # "eager" (loaded at start-up; the console cannot unload it) or "lazy" (on
            # first use).
            "load": entry.config.load,
            # How a reasoning model marks its thinking (None: it does not reason).
            "reasoning": reasoning,
        },
    )


@get("/v1/models")
async def list_models(request: HttpRequest) -> ModelList:
    entries = service_of(request).manager.entries.values()
    return ModelList(data=[_model_object(e) for e in entries])


@get("/v1/models/{model:path}")
async def retrieve_model(request: HttpRequest, model: FromPath[str]) -> ModelObject:
    return _model_object(service_of(request).entry(model.lstrip("/")))


@get("/health")
async def health(request: HttpRequest) -> Response[dict[str, object]]:
    manager = service_of(request).manager
    entries = manager.entries.values()
    failed = any(e.state == "failed" for e in entries)
    status = "degraded" if failed else "ok"
    if not manager.config.server.health_details:
        return Response({"status": status})
    models = {
        e.name: {"state": e.state, "error": e.error, "active": e.active, "queued": e.waiting}
        for e in entries
    }
    return Response({"status": status, "models": models})


ROUTES = [list_models, retrieve_model, health]
