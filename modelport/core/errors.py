"""The error taxonomy of modelport.

Core errors carry no HTTP status: each protocol adapter maps these types to its own
wire form in one table. Backends raise only these types; anything else that escapes
a backend is a bug and is reported as an internal error with a logged traceback.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "ConfigError",
    "ContextLengthExceeded",
    "InvalidImage",
    "InvalidRequest",
    "MissingDependency",
    "ModelLoadFailed",
    "ModelNotFound",
    "ModelportError",
    "NotFound",
    "Overloaded",
    "PayloadTooLarge",
    "PluginError",
    "SourceError",
    "Unauthorized",
    "Unsupported",
]


class ModelportError(Exception):
    """Base of every error modelport raises on purpose.

    ``code`` is a stable string a client can branch on; ``param`` names the request
    field at fault (dotted/indexed path such as ``messages[2].content``) or is None.
    """

    code: str = "internal_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code


class InvalidRequest(ModelportError):
    """The request is malformed or a value is out of range."""

    code = "invalid_request"


class InvalidImage(InvalidRequest):
    """An image content part cannot be used; ``param`` names the part. The codes:
    ``invalid_image_url`` (a malformed URL or data URI), ``image_url_not_allowed`` (a
    scheme or address the server refuses to fetch), ``image_fetch_failed`` (unreachable,
    timed out, a non-2xx answer, too many redirects), ``image_too_large`` (bytes or
    pixels), ``unsupported_image_type`` (not PNG, JPEG, WebP or GIF) and
    ``invalid_image`` (the bytes claim a format but do not decode)."""

    code = "invalid_image_url"


class Unsupported(InvalidRequest):
    """The request asks for a feature the model does not declare."""

    code = "unsupported_parameter"


class ContextLengthExceeded(InvalidRequest):
    """The prompt (plus the tokens asked for) does not fit the model's context."""

    code = "context_length_exceeded"


class PayloadTooLarge(InvalidRequest):
    """The request body is larger than the server accepts."""

    code = "payload_too_large"


class Unauthorized(ModelportError):
    """Missing or wrong API key."""

    code = "invalid_api_key"


class NotFound(ModelportError):
    """A named resource does not exist."""

    code = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class Overloaded(ModelportError):
    """A bounded queue is full; the client should retry after ``retry_after`` seconds."""

    code = "overloaded"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float = 1.0,
        param: str | None = None,
        code: str | None = None,
    ):
        super().__init__(message, param=param, code=code)
        self.retry_after = retry_after


class BackendError(ModelportError):
    """The runtime failed on a valid request (reported as a server error)."""

    code = "backend_error"


class ModelLoadFailed(BackendError):
    """A configured model could not be loaded; the rest of the server keeps serving."""

    code = "model_unavailable"


class ConfigError(ModelportError):
    """plugins.toml (or a backend's options) is invalid; ``param`` is the TOML path."""

    code = "invalid_config"


class PluginError(ModelportError):
    """A plugin is broken: a bad hook, a duplicate backend name, a failed import."""

    code = "plugin_error"


class MissingDependency(PluginError):
    """A backend's runtime SDK is not installed; the message names the pip command."""

    code = "missing_dependency"


class SourceError(ModelportError):
    """A model source could not be fetched or verified."""

    code = "source_error"
