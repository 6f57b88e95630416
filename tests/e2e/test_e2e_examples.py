"""Every example in examples/ that the server supports runs against the real server."""

from __future__ import annotations

import pytest

from helpers import ServerProcess, run_example

pytestmark = pytest.mark.e2e


def test_chat(server: ServerProcess) -> None:
    assert run_example(server, "chat.py").strip()


def test_system_prompt(server: ServerProcess) -> None:
    assert "Paris" in run_example(server, "system_prompt.py")


def test_streaming(server: ServerProcess) -> None:
    out = run_example(server, "streaming.py")
    assert out.rstrip().endswith("tokens]")


def test_completions(server: ServerProcess) -> None:
    assert run_example(server, "completions.py").strip()


def test_embeddings(server: ServerProcess) -> None:
    out = run_example(server, "embeddings.py")
    assert "single: 384 dimensions" in out
    assert out.count("cosine(") == 2


def test_models(server: ServerProcess) -> None:
    out = run_example(server, "models.py")
    assert "smollm2 (owned by modelport)" in out
    assert "retrieved smollm2" in out


def test_chat_repl_with_piped_input(server: ServerProcess) -> None:
    out = run_example(server, "chat_repl.py", stdin="Hello!\nWhat did I just say?\nexit\n")
    assert out.count("smollm2> ") == 2
    assert out.count("you> ") == 3


def test_tool_calling(server: ServerProcess) -> None:
    out = run_example(server, "tool_calling.py")
    assert "the model called get_current_weather({'city':" in out


def test_json_mode(server: ServerProcess) -> None:
    import json

    assert isinstance(json.loads(run_example(server, "json_mode.py")), dict)


def test_structured_outputs(server: ServerProcess) -> None:
    out = run_example(server, "structured_outputs.py")
    assert "available:" in out


def test_completions_suffix_without_fim_tokens(server: ServerProcess) -> None:
    # SmolLM2 has no fill-in-the-middle tokens: the example shows the clear refusal.
    assert "refused:" in run_example(server, "completions_suffix.py") and "'suffix'" in run_example(
        server, "completions_suffix.py"
    )


# The default smollm2 has no projector: the vision example shows the clear refusal here
# (tests/e2e/test_e2e_vision.py runs it against a vision model).
def test_vision_refused_without_projector(server: ServerProcess) -> None:
    out = run_example(server, "vision.py")
    assert "refused:" in out and "messages[0].content[1]" in out


def test_responses_continue_from_the_store(server: ServerProcess) -> None:
    import re

    out = run_example(server, "responses.py")
    ids = re.findall(r"^\[(resp_[0-9a-f]+)\] ", out, re.M)
    assert len(ids) == 2 and ids[0] != ids[1]
    assert out.strip().splitlines()[-1] == f"follow-up input items: 1; continues {ids[0]}"


def test_rerank(server: ServerProcess) -> None:
    out = run_example(server, "rerank.py").splitlines()
    assert "bread" in out[0] or "dough" in out[0]
    assert out[-1].startswith("usage: ")


def test_tokenize(server: ServerProcess) -> None:
    out = run_example(server, "tokenize_detokenize.py")
    assert "back: Tokenizers split words into pieces." in out
    assert "as a chat prompt: " in out


def test_anthropic_messages(server: ServerProcess) -> None:
    out = run_example(server, "anthropic_messages.py")
    assert "the model called get_weather({'city':" in out
    assert "prompt tokens: " in out
