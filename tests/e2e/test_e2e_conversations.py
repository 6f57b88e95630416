"""The Conversations API and ``conversation`` on /v1/responses, through the real server
and the official SDK: create with items and metadata, retrieve, update, delete; list,
add, retrieve and delete items; responses that read a conversation and grow it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from helpers import ServerProcess, assert_valid, smollm2_gguf

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    root = tmp_path_factory.mktemp("conversations")
    path = root / "plugins.toml"
    path.write_text(
        f'[server]\ndata_dir = "{root / "data"}"\n'
        f'[[models]]\nname = "smollm2"\nbackend = "gguf"\nsource = "{smollm2_gguf()}"\n'
    )
    with ServerProcess(Path(path)) as server:
        yield openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0)


def test_create_retrieve_update_delete(client: openai.OpenAI) -> None:
    made = client.conversations.create(
        items=[{"role": "user", "content": "Hello"}], metadata={"topic": "greeting"}
    )
    assert made.id.startswith("conv_") and made.metadata == {"topic": "greeting"}
    assert_valid("ConversationResource", made.model_dump())
    assert client.conversations.retrieve(made.id).model_dump() == made.model_dump()
    updated = client.conversations.update(made.id, metadata={"topic": "farewell"})
    assert updated.metadata == {"topic": "farewell"}
    deleted = client.conversations.delete(made.id)
    assert (deleted.id, deleted.deleted) == (made.id, True)
    assert_valid("DeletedConversationResource", deleted.model_dump())
    with pytest.raises(openai.NotFoundError) as info:
        client.conversations.retrieve(made.id)
    assert info.value.body["param"] == "conversation_id"  # type: ignore[index]


def test_items_list_add_retrieve_delete(client: openai.OpenAI) -> None:
    made = client.conversations.create(items=[{"role": "user", "content": "one"}])
    added = client.conversations.items.create(
        made.id,
        items=[
            {"type": "message", "role": "assistant", "content": "two"},
            {"role": "user", "content": [{"type": "input_text", "text": "three"}]},
        ],
    )
    assert len(added.data) == 2
    assert_valid("ConversationItemList", added.model_dump(exclude_unset=True))
    newest = client.conversations.items.list(made.id)
    texts = [item.content[0].text for item in newest.data]  # type: ignore[union-attr]
    assert texts == ["three", "two", "one"]  # newest first by default
    page = client.conversations.items.list(made.id, order="asc", limit=2)
    assert [i.id for i in page.data] == [newest.data[2].id, newest.data[1].id] and page.has_more
    rest = client.conversations.items.list(made.id, order="asc", after=page.data[1].id)
    assert [i.id for i in rest.data] == [newest.data[0].id]
    two = client.conversations.items.retrieve(newest.data[1].id, conversation_id=made.id)
    assert two.content[0].text == "two"  # type: ignore[union-attr]
    client.conversations.items.delete(newest.data[1].id, conversation_id=made.id)
    left = client.conversations.items.list(made.id, order="asc")
    assert [i.content[0].text for i in left.data] == ["one", "three"]  # type: ignore[union-attr]
    with pytest.raises(openai.NotFoundError) as info:
        client.conversations.items.retrieve(newest.data[1].id, conversation_id=made.id)
    assert info.value.body["param"] == "item_id"  # type: ignore[index]


def test_responses_read_and_grow_a_conversation(client: openai.OpenAI) -> None:
    made = client.conversations.create(
        items=[{"role": "user", "content": "My name is Ada. Remember it."}]
    )
    first = client.responses.create(
        model="smollm2", conversation=made.id, input="What is my name?", max_output_tokens=24
    )
    assert first.conversation is not None and first.conversation.id == made.id
    items = client.conversations.items.list(made.id, order="asc").data
    assert [i.type for i in items] == ["message", "message", "message"]
    assert items[-1].id == first.output[0].id  # its output was appended
    second = client.responses.create(
        model="smollm2",
        conversation={"id": made.id},
        input="Say it again.",
        max_output_tokens=24,
    )
    assert second.usage.input_tokens > first.usage.input_tokens  # it saw the first turn
    assert len(client.conversations.items.list(made.id).data) == 5


def test_what_cannot_be_honoured_is_refused(client: openai.OpenAI) -> None:
    made = client.conversations.create()
    first = client.responses.create(model="smollm2", input="hi", max_output_tokens=16)
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(
            model="smollm2",
            conversation=made.id,
            previous_response_id=first.id,
            input="hi",
            max_output_tokens=16,
        )
    assert info.value.body["param"] == "conversation"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="smollm2", conversation="conv_nope", input="hi")
    too_many = [{"role": "user", "content": str(i)} for i in range(21)]
    with pytest.raises(openai.BadRequestError) as info:
        client.conversations.items.create(made.id, items=too_many)  # type: ignore[arg-type]
    assert info.value.body["param"] == "items"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as info:
        client.conversations.items.list(made.id, include=["message.output_text.logprobs"])
    assert info.value.body["param"] == "include"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as info:
        client.conversations.create(items=[{"type": "web_search_call", "id": "x"}])  # type: ignore[list-item]
    assert info.value.body["param"] == "items[0].type"  # type: ignore[index]
