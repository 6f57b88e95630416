"""modelport core: capabilities, types, errors, hooks, registry, config, model manager.

Imports no web framework, no wire type and no runtime SDK.
"""

from .capabilities import Capability, Chat, Complete, Embed, Feature, Image
from .errors import (
    BackendError,
    ConfigError,
    ContextLengthExceeded,
    InvalidRequest,
    MissingDependency,
    ModelNotFound,
    ModelportError,
    Overloaded,
    PluginError,
    Unsupported,
)
from .hookspecs import hookimpl
from .registry import BackendRegistry, BackendSpec, LoadContext, NoOptions
from .types import (
    ChatEvent,
    ChatRequest,
    CompletionRequest,
    Constraint,
    EmbedRequest,
    EmbedResult,
    Finish,
    FinishReason,
    ImageData,
    Message,
    Sampling,
    Started,
    TextDelta,
    TextPart,
    ToolCallDelta,
    Usage,
)

__all__ = [
    "BackendError",
    "BackendRegistry",
    "BackendSpec",
    "Capability",
    "Chat",
    "ChatEvent",
    "ChatRequest",
    "Complete",
    "CompletionRequest",
    "ConfigError",
    "Constraint",
    "ContextLengthExceeded",
    "Embed",
    "EmbedRequest",
    "EmbedResult",
    "Feature",
    "Finish",
    "FinishReason",
    "Image",
    "ImageData",
    "InvalidRequest",
    "LoadContext",
    "Message",
    "MissingDependency",
    "ModelNotFound",
    "ModelportError",
    "NoOptions",
    "Overloaded",
    "PluginError",
    "Sampling",
    "Started",
    "TextDelta",
    "TextPart",
    "ToolCallDelta",
    "Unsupported",
    "Usage",
    "hookimpl",
]
