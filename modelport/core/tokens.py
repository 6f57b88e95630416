"""Token-array inputs (completions' ``prompt``, embeddings' ``input``), checked in core.

Token ids belong to one model's vocabulary: an id another tokenizer made (tiktoken's, say)
means something else here, or nothing. A loaded model that takes token input declares its
``vocab_size`` (an attribute, like ``features``), and core refuses an id outside it with a
400 naming the input, before the backend sees it. Backends that decode ids back to text
(the embedders do) use :func:`decoded_texts`, which refuses ids that decode to nothing
or that the model's tokenizer would not make of their text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .errors import InvalidRequest

__all__ = ["check_token_ids", "decoded_texts"]


def check_token_ids(ids: Sequence[int], vocab_size: int, param: str) -> None:
    """Refuse an id outside ``0 .. vocab_size - 1``, naming ``param``."""
    bad = next((t for t in ids if not 0 <= t < vocab_size), None)
    if bad is not None:
        raise InvalidRequest(
            f"token id {bad} is outside this model's vocabulary (0..{vocab_size - 1}); "
            "token arrays are model-specific: send text, or ids from this model's tokenizer",
            param=param,
            code="invalid_value",
        )


def decoded_texts(
    inputs: Sequence[str | Sequence[int]],
    decode: Callable[[list[int]], str],
    encode: Callable[[str], list[int]],
    is_special: Callable[[int], bool],
    param: str,
) -> list[str]:
    """``inputs`` as text, for a backend that embeds text: each token array decoded with
    ``decode`` (special tokens left out), and refused, naming ``param[i]``, when it
    decodes to nothing or when ``encode`` (no special tokens added) does not give its
    ordinary ids back: those ids were not made by this model's tokenizer (tiktoken's
    ids decode into the model's vocabulary as nonsense), and the embedding would not be
    of them."""
    texts = []
    for i, item in enumerate(inputs):
        if not isinstance(item, str):
            ids = list(item)
            text = decode(ids)
            if not text.strip():
                raise InvalidRequest(
                    f"the token ids of {param}[{i}] decode to no text (only special "
                    "tokens?); there is nothing to embed",
                    param=f"{param}[{i}]",
                    code="invalid_value",
                )
            if encode(text) != [t for t in ids if not is_special(t)]:
                raise InvalidRequest(
                    f"the token ids of {param}[{i}] are not what this model's tokenizer makes "
                    "of their text: they were made by another tokenizer (tiktoken's, say). "
                    "Token arrays are model-specific; send the text instead",
                    param=f"{param}[{i}]",
                    code="invalid_value",
                )
            item = text
        texts.append(item)
    return texts
