"""The OpenAPI document at ``/schema``: request bodies and error envelopes from the wire types.

Handlers read raw bodies and decode them with msgspec (so errors name their JSON path), which
leaves Litestar nothing to document. This adds, once the app is built, each POST route's
request body (the wire Struct's JSON schema, from ``msgspec.json.schema_components``), its
200 body and the OpenAI error envelope for every error status. How bodies are decoded does
not change: the schema documents the decoder, it never replaces it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Litestar
from litestar.openapi.spec import (
    OpenAPIMediaType as MediaType,
)
from litestar.openapi.spec import (
    OpenAPIResponse,
    Reference,
    RequestBody,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIType

from modelport.core.adapters import Body

from .errors import ErrorEnvelope

__all__ = ["ERROR_STATUSES", "document_bodies"]

ERROR_STATUSES = {
    "400": "invalid request: malformed JSON, a wrong type, a value out of range",
    "401": "missing or invalid API key (when [server] api_keys is set)",
    "404": "unknown model or resource",
    "413": "request body over [server] max_body_bytes",
    "429": "the model's queue is full; retry after the Retry-After header's seconds",
    "500": "internal error; details are in the server log",
    "503": "the model failed to load; the others keep serving",
}
REF = "#/components/schemas/{name}"


def _ref(kind: type) -> Reference:
    return Reference(ref=REF.format(name=kind.__name__))


def _json(kind: type) -> dict[str, MediaType]:
    return {"application/json": MediaType(schema=_ref(kind))}


def _error_responses(envelope: type) -> dict[str, OpenAPIResponse]:
    return {
        status: OpenAPIResponse(description=text, content=_json(envelope))
        for status, text in ERROR_STATUSES.items()
    }


def _components(bodies: Mapping[str, Body], envelopes: Mapping[str, type]) -> dict[str, Any]:
    kinds = [kind for request, ok, _ in bodies.values() for kind in (request, ok) if kind]
    kinds += [ErrorEnvelope, *dict.fromkeys(envelopes.values())]
    _, components = msgspec.json.schema_components(kinds, ref_template=REF)
    return components


def document_bodies(
    app: Litestar, bodies: Mapping[str, Body], envelopes: Mapping[str, type] | None = None
) -> None:
    """Add request bodies (``bodies``: every adapter's, by path), 200 bodies and error
    envelopes (OpenAI's, or ``envelopes``' for the paths of an adapter with its own) to
    ``app``'s OpenAPI document."""
    envelopes = envelopes or {}
    document = app.openapi_schema  # built once and cached: every route is registered by now
    components = document.components
    components.schemas = {**(components.schemas or {}), **_components(bodies, envelopes)}
    for path, item in (document.paths or {}).items():
        errors = _error_responses(envelopes.get(path, ErrorEnvelope))
        for operation in (item.get, item.post, item.delete):
            if operation is None:
                continue
            responses = operation.responses or {}
            operation.responses = {**responses, **errors}
        if path not in bodies or item.post is None:
            continue
        request, ok, streams = bodies[path]
        item.post.request_body = RequestBody(content=_json(request), required=True)
        content = _json(ok) if ok else {"application/json": MediaType(schema=Schema())}
        text = "the result"
        if streams:
            content["text/event-stream"] = MediaType(schema=Schema(type=OpenAPIType.STRING))
            text += "; with stream true, Server-Sent Events ending with data: [DONE]"
        ok_response = OpenAPIResponse(description=text, content=content)
        item.post.responses = {**(item.post.responses or {}), "200": ok_response}
