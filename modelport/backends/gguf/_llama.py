"""Every private part of llama-cpp-python the gguf backend uses, in one place.

The public ``Llama`` class serves one sequence at a time; the batch scheduler, grammars
checked before generation, and images need llama-cpp-python's lower layer. These are
the only places that reach past its public API, and pyproject.toml pins the minor series
they were checked against. ``tests/backends/test_gguf_private_api.py`` names each
symbol below, so an upgrade that moves one fails there, loudly, in one test.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "PRIVATE",
    "context_pointer",
    "grammar_source",
    "internals",
    "model_handle",
    "vocab",
]

# (where, attribute): what is used, for the test that checks an installed version.
PRIVATE = (
    ("llama_cpp", "_internals"),  # LlamaContext, LlamaBatch, LlamaSampler
    ("llama_cpp.Llama", "_model"),  # the LlamaModel wrapper: .model, .vocab
    ("llama_cpp.Llama", "_ctx"),  # the LlamaContext wrapper: .ctx (reranking decodes)
    ("llama_cpp.llama_grammar.LlamaGrammar", "_grammar"),  # the GBNF text
    ("llama_cpp.llama_grammar.LlamaGrammar", "_root"),  # its root rule
)


def internals(llama_cpp: Any) -> Any:
    """``llama_cpp._internals``: ``LlamaContext``, ``LlamaBatch``, ``LlamaSampler``."""
    return llama_cpp._internals


def model_handle(llm: Any) -> Any:
    """The ``LlamaModel`` behind a ``Llama`` (``.model`` is the C pointer)."""
    return llm._model


def vocab(llm: Any) -> Any:
    """The C vocabulary pointer of a ``Llama``."""
    return llm._model.vocab


def grammar_source(grammar: Any) -> tuple[bytes, bytes]:
    """A ``LlamaGrammar``'s GBNF text and root rule, as llama.cpp's C API takes them."""
    return grammar._grammar.encode(), grammar._root.encode()


def context_pointer(llm: Any) -> Any:
    """The C context pointer of a ``Llama`` (``llama_decode`` takes it)."""
    return llm._ctx.ctx
