"""The one table from core errors to HTTP statuses and OpenAI error envelopes."""

from __future__ import annotations

import logging

import msgspec

from modelport.core import errors as e

__all__ = ["STATUS", "ErrorBody", "ErrorEnvelope", "envelope", "error_body", "http_error"]

log = logging.getLogger("modelport.http")


class ErrorBody(msgspec.Struct, kw_only=True):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorEnvelope(msgspec.Struct, kw_only=True):
    error: ErrorBody


# (status, OpenAI error type), most specific first.
STATUS: list[tuple[type[e.ModelportError], int, str]] = [
    (e.PayloadTooLarge, 413, "invalid_request_error"),
    (e.InvalidRequest, 400, "invalid_request_error"),
    (e.Unauthorized, 401, "authentication_error"),
    (e.NotFound, 404, "invalid_request_error"),
    (e.Overloaded, 429, "rate_limit_error"),
    (e.ModelLoadFailed, 503, "server_error"),
    (e.ModelportError, 500, "server_error"),
]

# HTTP errors raised by the framework itself (unknown route, wrong method, ...).
HTTP_TYPES = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("authentication_error", "invalid_api_key"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    413: ("invalid_request_error", "payload_too_large"),
    415: ("invalid_request_error", "unsupported_media_type"),
    429: ("rate_limit_error", "rate_limited"),
}

_encoder = msgspec.json.Encoder()


def error_body(exc: BaseException) -> tuple[int, ErrorBody, dict[str, str]]:
    """Status, error body and extra headers for any exception.

    Unexpected exceptions are a 500 with a generic message; the traceback goes to the log.
    """
    if isinstance(exc, e.ModelportError):
        for kind, status, type_ in STATUS:
            if isinstance(exc, kind):
                headers = {}
                if isinstance(exc, e.Overloaded):
                    headers["Retry-After"] = str(max(1, round(exc.retry_after)))
                if status >= 500:
                    log.error("%s: %s", type(exc).__name__, exc.message)
                return (
                    status,
                    ErrorBody(message=exc.message, type=type_, param=exc.param, code=exc.code),
                    headers,
                )
    log.error("unhandled error", exc_info=exc)
    return (
        500,
        ErrorBody(
            message="internal server error; see the server log",
            type="server_error",
            param=None,
            code="internal_error",
        ),
        {},
    )


def http_error(status: int, detail: str, extra: object = None) -> ErrorBody:
    """The envelope of an error the web framework raised; a parameter it failed to
    validate (``extra``: Litestar's ``[{"key", "message", "source"}]``) is named."""
    type_, code = HTTP_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", f"http_{status}")
    )
    param = None
    if isinstance(extra, list) and extra and isinstance(extra[0], dict) and "key" in extra[0]:
        param = str(extra[0]["key"])
        detail = f"{detail}: {param}: {extra[0].get('message', '')}".rstrip(": ")
        code = "invalid_value" if status == 400 else code
    return ErrorBody(message=detail, type=type_, param=param, code=code)


def envelope(body: ErrorBody) -> bytes:
    return _encoder.encode(ErrorEnvelope(error=body))
