"""Tokenising without ctransformers' buffer overflow.

``LLM.tokenize`` allocates one int per *character* of the text and lets the C library
write one per *token*. Whenever a text has more tokens than characters (an emoji is one
character and four byte tokens; CJK; any small vocabulary) the library writes past the
buffer: heap corruption, then a segfault. Its gpt-2 tokeniser also splits words with a
recursive ``std::regex`` that overflows the stack on a long word, and matches every
word against the vocabulary in quadratic time.

``SafeTokenizer`` calls the same C function with a buffer sized by an upper bound on
the token count that holds for any input, and for gpt-2 vocabularies hands it one short
word at a time.
"""

from __future__ import annotations

import ctypes
import re
from typing import Any

__all__ = ["SafeTokenizer", "max_tokens_spm"]

# The gpt-2 pre-tokeniser ctransformers runs (std::regex in the C locale: ASCII classes).
GPT2_WORDS = re.compile(
    rb"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+"
)


def max_tokens_spm(n_bytes: int) -> int:
    """Most tokens SentencePiece (llama.cpp's SPM tokeniser) can make of ``n_bytes``.

    It prefixes a space and escapes every space as U+2581 (3 bytes); a piece missing
    from the vocabulary falls back to one token per byte; plus BOS. So at most three
    tokens per input byte, plus the prefix and BOS.
    """
    return 3 * n_bytes + 8


class SafeTokenizer:
    """``encode(text)`` for a loaded ``ctransformers.LLM``; ``kind`` is "spm" or "gpt2"."""

    def __init__(self, llm: Any, kind: str):
        self.llm = llm
        self.kind = kind
        # Pieces of an overlong word: no shorter than the longest token, short enough
        # for the regex's recursion and the quadratic vocabulary match.
        self.piece_bytes = max(self._longest_token(), 64) if kind == "gpt2" else 0
        self.chunk_bytes = 4 * self.piece_bytes

    def _longest_token(self) -> int:
        lengths = (len(self.llm.detokenize([i], decode=False)) for i in range(self.llm.vocab_size))
        return max(max(lengths, default=1), 1)

    def _call(self, data: bytes, add_bos: bool, capacity: int) -> list[int]:
        buffer = (ctypes.c_int * capacity)()
        count = int(self.llm.ctransformers_llm_tokenize(data, add_bos, buffer))
        # The bounds below make this unreachable; if it ever fails, stop before using
        # memory the library may have corrupted.
        assert count <= capacity, f"tokeniser wrote {count} tokens into {capacity}"
        return list(buffer[:count])

    def encode(self, text: str, *, add_bos: bool) -> list[int]:
        # C strings end at NUL: drop them rather than lose the rest of the text.
        data = text.encode("utf-8", errors="replace").replace(b"\x00", b"")
        if self.kind == "spm":
            return self._call(data, add_bos, max_tokens_spm(len(data)))
        return self._encode_words(data)

    def _encode_words(self, data: bytes) -> list[int]:
        """gpt-2: the library's own algorithm, fed whole words in chunks it re-splits
        exactly as it would have split the whole text; a word longer than the chunk
        limit is cut and spelled in parts (it has no single token anyway)."""
        tokens: list[int] = []
        chunk = b""
        for match in GPT2_WORDS.finditer(data):
            word = match.group()
            if len(chunk) + len(word) > self.chunk_bytes:
                tokens += self._chunk(chunk)
                chunk = b""
            if len(word) <= self.chunk_bytes:
                chunk += word
                continue
            for start in range(0, len(word), self.piece_bytes):
                tokens += self._chunk(word[start : start + self.piece_bytes])
        return tokens + self._chunk(chunk)

    def _chunk(self, data: bytes) -> list[int]:
        # At most one token per byte: the vocabulary holds every single byte or skips it.
        return self._call(data, False, len(data) + 8) if data else []
