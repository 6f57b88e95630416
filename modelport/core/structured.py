"""Structured outputs: which JSON Schemas can be enforced, the prompt that states them,
and the final check of what the model produced."""

from __future__ import annotations

import json
from typing import Any

from .errors import Unsupported

__all__ = ["SUPPORTED_KEYWORDS", "check_schema", "schema_instruction", "validates"]

# Keywords a grammar built from the schema (llama.cpp's json-schema-to-grammar) enforces,
# plus annotations that need no enforcement.
SUPPORTED_KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "prefixItems",
        "minItems",
        "maxItems",
        "enum",
        "const",
        "anyOf",
        "oneOf",
        "allOf",
        "$ref",
        "$defs",
        "definitions",
        "pattern",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "format",
        "description",
        "title",
        "default",
        "examples",
        "$schema",
        "$id",
        "$comment",
        "nullable",
        "strict",
    }
)

_SCHEMA_MAPS = ("properties", "$defs", "definitions")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


def check_schema(schema: Any, param: str) -> None:
    """Refuse (400, naming the keyword's path) what cannot be enforced while decoding."""
    if not isinstance(schema, dict):
        if isinstance(schema, bool):
            return
        raise Unsupported(f"{param} must be a JSON Schema object", param=param)
    for key, value in schema.items():
        where = f"{param}.{key}"
        if key not in SUPPORTED_KEYWORDS:
            raise Unsupported(
                f"JSON Schema keyword '{key}' at {where} cannot be enforced; supported: "
                + ", ".join(sorted(SUPPORTED_KEYWORDS)),
                param=where,
            )
        if key == "$ref" and not str(value).startswith("#/"):
            raise Unsupported(f"only local $ref (#/...) is supported, got {value!r}", param=where)
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            for name, sub in value.items():
                check_schema(sub, f"{where}.{name}")
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            for i, sub in enumerate(value):
                check_schema(sub, f"{where}[{i}]")
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            check_schema(value, where)


def schema_instruction(schema: dict[str, Any] | None) -> str:
    """The instruction added to the prompt, so the model knows what the grammar allows."""
    if schema is None:
        return "Respond only with a single valid JSON object."
    return "Respond only with JSON that matches this JSON Schema:\n" + json.dumps(
        schema, ensure_ascii=False
    )


def call_or_answer_instruction(schema: dict[str, Any] | None) -> str:
    """The instruction for tools together with a response format: the grammar admits a
    call object or the answer."""
    answer = (
        "a single valid JSON object"
        if schema is None
        else "JSON that matches this JSON Schema:\n" + json.dumps(schema, ensure_ascii=False)
    )
    return (
        "Either call one of the functions, writing only the JSON object "
        '{"name": <function name>, "arguments": <its arguments>}, or give your final '
        f"answer as {answer}"
    )


def validates(text: str, schema: dict[str, Any] | None) -> bool:
    """Whether ``text`` is JSON (an object for ``json_object``) valid against ``schema``."""
    try:
        value = json.loads(text)
    except ValueError:
        return False
    if schema is None:
        return isinstance(value, dict)
    import jsonschema

    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError:
        return False
    except jsonschema.SchemaError as exc:
        raise Unsupported(
            f"invalid JSON Schema: {exc.message}", param="response_format.json_schema.schema"
        ) from None
    return True
