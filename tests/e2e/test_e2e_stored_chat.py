"""Stored chat completions through the real server and the official SDK: ``store: true``
(plain and streamed), list with its filters and pages, retrieve, update the metadata,
delete, the input messages, and the store surviving a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from helpers import ServerProcess, assert_valid, smollm2_gguf

pytestmark = pytest.mark.e2e

ASK = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": [{"type": "text", "text": "Name a colour."}]},
]


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stored-chat")
    path = root / "plugins.toml"
    path.write_text(
        f'[server]\ndata_dir = "{root / "data"}"\n'
        f'[[models]]\nname = "smollm2"\nbackend = "gguf"\nsource = "{smollm2_gguf()}"\n'
        '[[models]]\nname = "other"\nbackend = "gguf"\n'
        f'source = "{smollm2_gguf()}"\n'
    )
    return path


@pytest.fixture(scope="module")
def server(config: Path) -> Iterator[ServerProcess]:
    with ServerProcess(config) as proc:
        yield proc


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0)


def _create(client: openai.OpenAI, model: str = "smollm2", **extra: Any) -> Any:
    return client.chat.completions.create(
        model=model,
        messages=ASK,
        max_tokens=8,
        temperature=0,
        store=True,
        **extra,  # type: ignore[arg-type]
    )


def test_a_stored_completion_comes_back_as_it_was_answered(client: openai.OpenAI) -> None:
    made = _create(client, metadata={"topic": "colours"})
    assert made.metadata == {"topic": "colours"}
    got = client.chat.completions.retrieve(made.id)
    assert got.model_dump() == made.model_dump()
    assert_valid("CreateChatCompletionResponse", got.model_dump(exclude_unset=True))
    messages = client.chat.completions.messages.list(made.id)
    assert [m.id for m in messages.data] == [f"{made.id}-0", f"{made.id}-1"]
    system, user = messages.data
    assert (system.role, system.content) == ("system", "Be brief.")
    assert user.content == "Name a colour."
    parts = [p.model_dump(exclude_unset=True) for p in user.content_parts or []]
    assert parts == [{"type": "text", "text": "Name a colour."}]
    assert system.content_parts is None


def test_without_store_nothing_is_kept(client: openai.OpenAI) -> None:
    made = client.chat.completions.create(model="smollm2", messages=ASK, max_tokens=4)  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.retrieve(made.id)
    assert info.value.body["param"] == "completion_id"  # type: ignore[index]


def test_a_streamed_completion_is_stored_too(client: openai.OpenAI) -> None:
    text, completion_id = "", ""
    for chunk in _create(client, stream=True):
        completion_id = chunk.id
        text += "".join(c.delta.content or "" for c in chunk.choices)
    got = client.chat.completions.retrieve(completion_id)
    assert got.choices[0].message.content == text and got.usage.completion_tokens > 0


def test_list_filters_pages_and_orders(client: openai.OpenAI) -> None:
    ids = [
        _create(client, model="other", metadata={"run": "list", "i": str(i)}).id for i in range(3)
    ]
    _create(client, model="other", metadata={"run": "elsewhere"})
    page = client.chat.completions.list(model="other", metadata={"run": "list"}, limit=2)
    assert [c.id for c in page.data] == ids[:2] and page.has_more
    assert_valid("ChatCompletionList", page.model_dump(exclude_unset=True))
    rest = client.chat.completions.list(
        model="other", metadata={"run": "list"}, after=ids[1], limit=2
    )
    assert [c.id for c in rest.data] == ids[2:] and not rest.has_more
    newest = client.chat.completions.list(model="other", metadata={"run": "list"}, order="desc")
    assert [c.id for c in newest.data] == ids[::-1]
    both = client.chat.completions.list(metadata={"run": "list", "i": "1"})
    assert [c.id for c in both.data] == [ids[1]]
    assert all(c.model == "smollm2" for c in client.chat.completions.list(model="smollm2").data)


def test_update_the_metadata_then_delete(client: openai.OpenAI) -> None:
    made = _create(client, metadata={"state": "draft"})
    updated = client.chat.completions.update(made.id, metadata={"state": "final"})
    assert updated.metadata == {"state": "final"}
    assert client.chat.completions.retrieve(made.id).metadata == {"state": "final"}
    found = client.chat.completions.list(metadata={"state": "final"})
    assert made.id in [c.id for c in found.data]
    deleted = client.chat.completions.delete(made.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (
        made.id,
        True,
        "chat.completion.deleted",
    )
    assert_valid("ChatCompletionDeleted", deleted.model_dump())
    for call in (client.chat.completions.retrieve, client.chat.completions.delete):
        with pytest.raises(openai.NotFoundError):
            call(made.id)


def test_bad_requests_are_400s(client: openai.OpenAI, server: ServerProcess) -> None:
    made = _create(client)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.update(made.id, metadata={"k": "v" * 600})
    assert "metadata" in str(info.value.body["param"])  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.list(limit=1000)
    assert info.value.body["param"] == "limit"  # type: ignore[index]


def test_the_store_survives_a_restart(config: Path, client: openai.OpenAI) -> None:
    made = _create(client, metadata={"kept": "yes"})
    with ServerProcess(config) as again:
        other = openai.OpenAI(base_url=again.base_url + "/v1", api_key="x", max_retries=0)
        assert other.chat.completions.retrieve(made.id).metadata == {"kept": "yes"}
