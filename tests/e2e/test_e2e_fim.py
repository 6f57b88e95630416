"""Fill-in-the-middle proven on a tiny random code model whose vocabulary and metadata
carry FIM tokens (``fixtures.tiny_fim``, Qwen2.5-Coder's token names, a BOS its
tokenizer adds): ``/tokenize`` with a suffix shows the prompt a completion with that
suffix evaluates, which is exactly llama.cpp's layout, ``[BOS] <|fim_prefix|> prefix
<|fim_suffix|> suffix <|fim_middle|>``; the completion's usage counts that prompt; the
repository's ``codellama:code``-style example runs against it through the SDK."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from fixtures.tiny_fim import FIM_TOKENS, build_tiny_fim
from helpers import ServerProcess, run_example, smollm2_gguf

pytestmark = pytest.mark.e2e

PREFIX, SUFFIX = "def compute_gcd(a, b):", "    return result"


@pytest.fixture(scope="module")
def coder_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_fim(tmp_path_factory.mktemp("fim"), tokenizer_gguf=smollm2_gguf())


@pytest.fixture(scope="module")
def coder(coder_gguf: Path) -> Iterator[ServerProcess]:
    tmp, model = coder_gguf.parent, coder_gguf
    config = tmp / "plugins.toml"
    config.write_text(
        f'[server]\ndata_dir = "{tmp / "data"}"\n'
        f'[[models]]\nname = "tiny-coder"\nbackend = "gguf"\nsource = "{model}"\n'
        "[models.options]\nn_ctx = 512\nn_threads = 1\n"
    )
    with ServerProcess(config) as proc:
        yield proc


def _tokenize(server: ServerProcess, **body: object) -> list[object]:
    resp = httpx.post(server.base_url + "/tokenize", json={"model": "tiny-coder", **body})
    assert resp.status_code == 200, resp.text
    return list(resp.json()["tokens"])


def _fim_ids(path: Path) -> tuple[int, int, int]:
    """The FIM token ids as llama.cpp reads them from the file (not through the server)."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    ids = (
        llama_cpp.llama_vocab_fim_pre(vocab),
        llama_cpp.llama_vocab_fim_suf(vocab),
        llama_cpp.llama_vocab_fim_mid(vocab),
    )
    texts = [llm.detokenize([i], special=True).decode() for i in ids]
    assert texts == list(FIM_TOKENS)
    return ids


def test_the_assembled_prompt_is_the_fim_layout(coder: ServerProcess, coder_gguf: Path) -> None:
    assembled = _tokenize(coder, content=PREFIX, suffix=SUFFIX, with_pieces=True)
    prefix = _tokenize(coder, content=PREFIX, add_special=False)
    suffix = _tokenize(coder, content=SUFFIX, add_special=False)
    bos = _tokenize(coder, content="")  # (BOS alone: this tokenizer adds one)
    assert len(bos) == 1
    pre, suf, mid = _fim_ids(coder_gguf)
    ids = [p["id"] for p in assembled]  # type: ignore[index]
    assert ids == [*bos, pre, *prefix, suf, *suffix, mid]
    pieces = [p["piece"] for p in assembled]  # type: ignore[index]
    assert pieces[1] == "<|fim_prefix|>" and pieces[-1] == "<|fim_middle|>"
    assert "".join(pieces[2 : 2 + len(prefix)]) == PREFIX


def test_a_completion_with_a_suffix_evaluates_that_prompt(coder: ServerProcess) -> None:
    client = openai.OpenAI(base_url=coder.base_url + "/v1", api_key="x", max_retries=0)
    completion = client.completions.create(
        model="tiny-coder", prompt=PREFIX, suffix=SUFFIX, max_tokens=8, temperature=0
    )
    assembled = _tokenize(coder, content=PREFIX, suffix=SUFFIX)
    assert completion.usage.prompt_tokens == len(assembled)
    assert completion.usage.completion_tokens == 8 and completion.choices[0].text
    plain = client.completions.create(
        model="tiny-coder", prompt=PREFIX, max_tokens=8, temperature=0
    )
    assert plain.usage.prompt_tokens == len(_tokenize(coder, content=PREFIX))
    assert plain.choices[0].text != completion.choices[0].text  # the suffix changed the prompt
    model = client.models.retrieve("tiny-coder").model_dump()
    assert "suffix" in model["capabilities"]["features"]


def test_the_example_runs_against_it(coder: ServerProcess) -> None:
    out = run_example(coder, "completions_suffix.py", MODELPORT_CODE_MODEL="tiny-coder")
    assert out.strip() and "refused" not in out


def test_suffix_with_messages_or_on_a_model_without_fim(coder: ServerProcess) -> None:
    resp = httpx.post(
        coder.base_url + "/tokenize",
        json={"model": "tiny-coder", "messages": [{"role": "user", "content": "x"}], "suffix": "y"},
    )
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "suffix"


def test_a_model_without_fim_tokens_refuses_the_suffix(base_url: str) -> None:
    resp = httpx.post(
        base_url + "/tokenize", json={"model": "smollm2", "content": "a", "suffix": "b"}
    )
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "suffix"
