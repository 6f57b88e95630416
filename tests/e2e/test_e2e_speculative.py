"""`speculative = "prompt-lookup"` through the real server and the official SDK: the option
reaches the scheduler, and a request that quotes its prompt gets the same greedy answer,
streamed or not, as from the repository's server (speculation off). How many drafts are
sent here depends on this machine's measured step costs; the mechanism, with the costs
pinned so drafts are sent, is tested in tests/backends/test_gguf_speculative.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from helpers import ServerProcess, smollm2_config

pytestmark = pytest.mark.e2e

DOCUMENT = (
    "The harbour of Port Ellery was built in 1821 to shelter the herring fleet from the "
    "autumn gales. Its two granite piers, the north pier and the east pier, enclose a basin "
    "of about four acres that dries at low tide."
)
QUOTE = [{"role": "user", "content": f"{DOCUMENT}\nQuote the text above exactly, word for word."}]


@pytest.fixture(scope="module")
def drafting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    tmp: Path = tmp_path_factory.mktemp("speculative")
    config = smollm2_config(
        tmp, options='n_ctx = 2048\nn_threads = 2\nspeculative = "prompt-lookup"\n'
    )
    with ServerProcess(config) as server:
        yield openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0)


def test_the_same_greedy_answer_with_speculation_on(
    drafting: openai.OpenAI, client: openai.OpenAI
) -> None:
    def ask(on: openai.OpenAI) -> tuple[str, str, int]:
        reply = on.chat.completions.create(
            model="smollm2",
            messages=QUOTE,
            temperature=0,
            max_tokens=60,  # type: ignore[arg-type]
        )
        choice = reply.choices[0]
        assert reply.usage is not None
        return choice.message.content or "", choice.finish_reason, reply.usage.completion_tokens

    plain = ask(client)
    assert ask(drafting) == plain
    assert "harbour of Port Ellery was built" in plain[0]  # (it quotes: drafts can be found)
    streamed = drafting.chat.completions.create(
        model="smollm2",
        messages=QUOTE,
        temperature=0,
        max_tokens=60,
        stream=True,  # type: ignore[arg-type]
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == plain[0]
