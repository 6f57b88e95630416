"""``[server] store = "postgresql://…"``: two server processes (as two replicas would be)
share stored responses, stored chat completions and conversations through one real
PostgreSQL database; a response stored through one is read and continued through the
other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from helpers import ServerProcess, smollm2_gguf

pytestmark = pytest.mark.e2e


def _config(root: Path, name: str, url: str) -> Path:
    path = root / f"{name}.toml"
    path.write_text(
        f'[server]\ndata_dir = "{root / name}"\nstore = "{url}"\n'
        f'[[models]]\nname = "smollm2"\nbackend = "gguf"\nsource = "{smollm2_gguf()}"\n'
    )
    return path


@pytest.fixture(scope="module")
def clients(
    tmp_path_factory: pytest.TempPathFactory, postgres: str
) -> Iterator[tuple[openai.OpenAI, openai.OpenAI]]:
    import psycopg

    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute("CREATE DATABASE shared_store")
    url = postgres.replace("/postgres?", "/shared_store?")
    root = tmp_path_factory.mktemp("pg-store")
    with (
        ServerProcess(_config(root, "a", url)) as a,
        ServerProcess(_config(root, "b", url)) as b,
    ):
        yield tuple(  # type: ignore[misc]
            openai.OpenAI(base_url=s.base_url + "/v1", api_key="x", max_retries=0) for s in (a, b)
        )


def test_a_response_stored_through_one_is_continued_through_the_other(
    clients: tuple[openai.OpenAI, openai.OpenAI],
) -> None:
    a, b = clients
    first = a.responses.create(model="smollm2", input="My name is Ada.", max_output_tokens=16)
    assert b.responses.retrieve(first.id).output_text == first.output_text
    follow = b.responses.create(
        model="smollm2",
        input="What is my name?",
        previous_response_id=first.id,
        max_output_tokens=16,
    )
    assert follow.usage.input_tokens > first.usage.input_tokens  # it saw the first turn
    assert a.responses.retrieve(follow.id).previous_response_id == first.id


def test_chat_completions_and_conversations_are_shared(
    clients: tuple[openai.OpenAI, openai.OpenAI],
) -> None:
    a, b = clients
    made = a.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "Hi"}],
        max_tokens=4,
        store=True,
        metadata={"via": "a"},
    )
    assert b.chat.completions.retrieve(made.id).metadata == {"via": "a"}
    assert made.id in [c.id for c in b.chat.completions.list(metadata={"via": "a"}).data]
    conversation = b.conversations.create(items=[{"role": "user", "content": "Hello"}])
    a.conversations.items.create(conversation.id, items=[{"role": "user", "content": "again"}])
    assert len(b.conversations.items.list(conversation.id).data) == 2
