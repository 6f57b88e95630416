"""Structured outputs: the answer matches a JSON Schema, parsed straight into a class."""

import os

from openai import OpenAI
from pydantic import BaseModel, Field

client = OpenAI(
    base_url=os.environ.get("MODELPORT_BASE_URL", "http://127.0.0.1:8000/v1"),
    api_key=os.environ.get("MODELPORT_API_KEY", "modelport"),
)


class FriendInfo(BaseModel):
    name: str
    age: int
    is_available: bool


class FriendList(BaseModel):
    # A bound on the list (maxItems in the schema, enforced by the grammar) keeps a small
    # model from repeating items until max_tokens.
    friends: list[FriendInfo] = Field(max_length=2)


completion = client.chat.completions.parse(
    model=os.environ.get("MODELPORT_CHAT_MODEL", "smollm2"),
    messages=[
        {
            "role": "user",
            "content": "I have two friends: Ollie, 22, who is busy, and Alex, 23, who is free "
            "this weekend. Return a list of my friends in JSON.",
        }
    ],
    response_format=FriendList,
    temperature=0,
)
friends = completion.choices[0].message.parsed
for friend in friends.friends:
    print(f"{friend.name}: {friend.age}, available: {friend.is_available}")
