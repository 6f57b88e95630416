"""Tokenizing and detokenizing with a model's own tokenizer (``/tokenize``,
``/detokenize``): core types, and how a backend reports pieces.

A text is tokenized the way the model's completions tokenize a prompt (``add_special``:
with the model's BOS, or for an encoder its CLS/SEP, unless false); chat ``messages``
the way its chat completions do (rendered with the model's chat template, the generation
prompt added), so the counts agree with ``usage.prompt_tokens`` for the same input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .types import Message, _Value

__all__ = [
    "DetokenizeRequest",
    "DetokenizeResult",
    "Piece",
    "TokenizeRequest",
    "TokenizeResult",
    "pieces_of",
]


class TokenizeRequest(_Value, frozen=True, kw_only=True):
    """``text`` or ``messages`` (exactly one); ``add_special`` applies to a text (None:
    the model's default, as for a completion prompt or an embedding input); with
    ``suffix``, the text is a fill-in-the-middle prefix and the tokens are the prompt a
    completion with that suffix evaluates (models with ``Feature.SUFFIX``)."""

    model: str
    text: str | None = None
    messages: tuple[Message, ...] | None = None
    add_special: bool | None = None
    with_pieces: bool = False
    suffix: str | None = None


class Piece(_Value, frozen=True, kw_only=True):
    """A token and its text: a string, or its bytes when they are not valid UTF-8 on
    their own (part of a character), as llama-server gives them."""

    id: int
    piece: str | tuple[int, ...]


class TokenizeResult(_Value, frozen=True, kw_only=True):
    tokens: tuple[int, ...]
    pieces: tuple[Piece, ...] | None = None  # (with_pieces)
    max_model_len: int | None = None  # the context the model takes, when it has one


class DetokenizeRequest(_Value, frozen=True, kw_only=True):
    model: str
    tokens: tuple[int, ...]


class DetokenizeResult(_Value, frozen=True, kw_only=True):
    text: str


def pieces_of(tokens: Sequence[int], piece_bytes: Callable[[int], bytes]) -> tuple[Piece, ...]:
    """Each token with its piece, from the bytes the tokenizer gives for it alone."""
    pieces = []
    for token in tokens:
        raw = piece_bytes(token)
        try:
            piece: str | tuple[int, ...] = raw.decode("utf-8")
        except UnicodeDecodeError:
            piece = tuple(raw)
        pieces.append(Piece(id=token, piece=piece))
    return tuple(pieces)
