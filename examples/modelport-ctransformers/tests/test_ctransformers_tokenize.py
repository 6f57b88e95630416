"""The tokeniser guard: the inputs that crash ctransformers' own ``tokenize`` are
tokenised safely, and ordinary text exactly as ctransformers would."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from modelport_ctransformers.tokens import SafeTokenizer, max_tokens_spm

from modelport.testing.conformance import load_model

# More tokens than characters: each emoji is 1 character and 4 byte tokens.
EMOJI = "😀" * 2000
CJK = "漢字とかなカナ" * 500
ORDINARY = ["hello world", "the dragon book, one two.", "It's 42 o'clock!  Two  spaces"]


def _llm(path: Path, **options: Any) -> Any:
    model = load_model("ctransformers", source=path, options={"threads": 1, **options}).model
    return model.llm  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def llama(llama_gguf: Path) -> Any:
    return _llm(llama_gguf)


@pytest.fixture(scope="module")
def gpt2(gpt2_ggml: Path) -> Any:
    return _llm(gpt2_ggml, model_type="gpt2")


def test_ctransformers_own_tokenize_crashes_on_more_tokens_than_characters(
    llama_gguf: Path,
) -> None:
    """Why the guard exists: the unguarded call kills the process (run apart)."""
    script = (
        "import sys\nfrom ctransformers import LLM\n"
        "LLM(sys.argv[1]).tokenize(sys.argv[2])\nprint('survived')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(llama_gguf), EMOJI],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode != 0 and "survived" not in done.stdout, done


@pytest.mark.parametrize("text", [EMOJI, CJK, "e\u0301" * 2000, "x\x00y\u2028"])
def test_spm_tokenising_stays_in_bounds_and_round_trips(llama: Any, text: str) -> None:
    llm = llama
    tokens = SafeTokenizer(llm, "spm").encode(text, add_bos=True)
    assert len(tokens) > len(text) + 1  # what the unguarded buffer cannot hold
    assert len(tokens) <= max_tokens_spm(len(text.encode()))
    assert tokens[0] == llm.bos_token_id
    # This llama.cpp spells spaces with U+2581 and leaves byte-fallback pieces escaped.
    spelled = llm.detokenize(tokens[1:]).replace("\u2581", " ")
    assert spelled.removeprefix(" ") == text.replace("\x00", "")


@pytest.mark.parametrize("text", [EMOJI, CJK, "a" * 100_000, "\n\t " * 5000])
def test_gpt2_tokenising_is_safe_fast_and_round_trips(gpt2: Any, text: str) -> None:
    llm = gpt2
    started = time.monotonic()
    tokens = SafeTokenizer(llm, "gpt2").encode(text, add_bos=False)
    # ctransformers' own tokeniser takes seconds for a 10,000-letter word (quadratic)
    # and overflows the stack (recursive std::regex) on a 100,000-letter one.
    assert time.monotonic() - started < 5
    assert llm.detokenize(tokens, decode=False) == text.encode()


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_gets_ctransformers_own_tokens(llama: Any, gpt2: Any, text: str) -> None:
    for llm, tokens in [
        (llama, SafeTokenizer(llama, "spm").encode(text, add_bos=True)),
        (gpt2, SafeTokenizer(gpt2, "gpt2").encode(text, add_bos=False)),
    ]:
        # Only where ctransformers' own buffer (a token per character, plus one) holds.
        assert len(tokens) <= len(text) + 1
        assert tokens == llm.tokenize(text)
