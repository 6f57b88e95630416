"""modelport: local models behind the OpenAI HTTP API, every runtime a plugin."""

from importlib.metadata import PackageNotFoundError, version

from .core.hookspecs import hookimpl

try:
    __version__ = version("modelport")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__", "hookimpl"]
