"""The ctransformers plugin, installed with pip, behind the real server and the official
``openai`` SDK: it serves, and no prompt can crash the server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from ctransformers_tiny_models import write_llama_gguf

from modelport.testing.server import ServerProcess

MODELS = ("tiny-llama", "tiny-gpt2")
# Prompts with more tokens than characters, a 100,000-letter word, long whitespace:
# each crashes ctransformers' own tokeniser. Short ones fit the context and generate;
# long ones are refused as too long, after being tokenised.
HOSTILE = [
    "😀" * 20,
    "漢字とかなカナ" * 5,
    "😀" * 5000,
    "漢字とかなカナ" * 2000,
    "a" * 100_000,
    "😀漢a \t" * 3000,
    " " * 20_000,
]


def _config(root: Path, llama: Path, gpt2: Path, bpe: Path) -> Path:
    config = root / "plugins.toml"
    config.write_text(f"""
[server]
data_dir = "{root / "data"}"

[[models]]
name = "tiny-llama"
backend = "ctransformers"
source = "{llama}"
load = "eager"
[models.options]
threads = 1

[[models]]
name = "tiny-gpt2"
backend = "ctransformers"
source = "{gpt2}"
load = "eager"
[models.options]
model_type = "gpt2"
threads = 1

[[models]]
name = "bpe-llama"
backend = "ctransformers"
source = "{bpe}"
""")
    return config


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, llama_gguf: Path,
           gpt2_ggml: Path) -> Iterator[ServerProcess]:  # fmt: skip
    root = tmp_path_factory.mktemp("server")
    bpe = write_llama_gguf(root / "bpe-llama.gguf", vocabulary="gpt2")
    proc = ServerProcess(_config(root, llama_gguf, gpt2_ggml, bpe))
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key="unused", max_retries=0)


@pytest.mark.parametrize("model", MODELS)
def test_chat_and_completions_are_served(client: openai.OpenAI, model: str) -> None:
    chat = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hello"}], max_tokens=6,
        temperature=0,
    )  # fmt: skip
    assert chat.choices[0].message.content
    assert chat.choices[0].finish_reason == "length"
    assert chat.usage is not None and chat.usage.completion_tokens == 6
    completion = client.completions.create(model=model, prompt="the dragon", max_tokens=4)
    assert completion.choices[0].text
    assert completion.usage is not None and completion.usage.completion_tokens == 4


@pytest.mark.parametrize("model", MODELS)
def test_streamed_text_equals_the_whole_text(client: openai.OpenAI, model: str) -> None:
    request = {"model": model, "messages": [{"role": "user", "content": "a book"}],
               "max_tokens": 8, "temperature": 0, "seed": 3}  # fmt: skip
    whole = client.chat.completions.create(**request).choices[0].message.content
    chunks = client.chat.completions.create(**request, stream=True)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == whole


@pytest.mark.parametrize("model", MODELS)
def test_no_prompt_crashes_the_server(
    server: ServerProcess, client: openai.OpenAI, model: str
) -> None:
    for prompt in HOSTILE:
        for path, body in (
            ("chat", {"messages": [{"role": "user", "content": prompt}]}),
            ("completions", {"prompt": prompt}),
        ):
            try:
                if path == "chat":
                    client.chat.completions.create(model=model, max_tokens=3, **body)
                else:
                    client.completions.create(model=model, max_tokens=3, **body)
            except openai.BadRequestError as exc:
                assert exc.code == "context_length_exceeded", exc
            assert server.alive(), f"the server died on {prompt[:20]!r}:\n{server.output()}"
    assert httpx.get(server.base_url + "/health", timeout=10).status_code == 200


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize(
    "sampling",
    [{"top_k": 10**6}, {"top_k": 0}, {"temperature": 0}, {"temperature": 2, "top_p": 1e-9}],
    ids=["top_k-beyond-vocabulary", "top_k-0", "temperature-0", "tiny-top_p"],
)
def test_sampling_edge_cases_are_served(
    server: ServerProcess, client: openai.OpenAI, model: str, sampling: dict[str, float]
) -> None:
    """Each crashes or corrupts ctransformers' own sampler (a top_k beyond the vocabulary
    segfaults its gpt-2 sampler); the plugin clamps them into range."""
    extra = {k: v for k, v in sampling.items() if k == "top_k"}
    known = {k: v for k, v in sampling.items() if k != "top_k"}
    chat = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "the book"}], max_tokens=4,
        extra_body=extra, **known,  # type: ignore[arg-type]
    )  # fmt: skip
    assert chat.choices[0].message.content
    assert server.alive()


def test_a_file_ctransformers_cannot_serve_is_refused_with_a_reason(
    server: ServerProcess, client: openai.OpenAI
) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(
            model="bpe-llama", messages=[{"role": "user", "content": "hi"}], max_tokens=2
        )
    assert info.value.status_code == 503
    message = info.value.body["message"]  # type: ignore[index]
    assert "'gpt2' vocabulary" in message
    assert 'backend = "gguf"' in message
    assert server.alive()
