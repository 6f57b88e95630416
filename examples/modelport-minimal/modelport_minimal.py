"""modelport-minimal: a whole backend in one file, to copy. Its "model" answers with the
last message reversed, one character per token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

import msgspec

from modelport import plugin


class MinimalOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``[models.options]`` in plugins.toml: seconds between two tokens."""

    delay: Annotated[float, msgspec.Meta(ge=0)] = 0.0


class ReverseModel:
    def __init__(self, options: MinimalOptions):
        self.options = options

    async def chat(self, request: plugin.ChatRequest) -> AsyncIterator[plugin.ChatEvent]:
        reply = request.messages[-1].text()[::-1]
        tokens = min(request.sampling.max_tokens or len(reply), len(reply))
        yield plugin.Started(prompt_tokens=len(reply))
        for char in reply[:tokens]:
            await asyncio.sleep(self.options.delay)  # a real runtime generates here
            yield plugin.TextDelta(text=char)
        usage = plugin.Usage(prompt_tokens=len(reply), completion_tokens=tokens)
        yield plugin.Finish(reason="length" if tokens < len(reply) else "stop", usage=usage)


@plugin.hookimpl
def register_backends(registry: plugin.BackendRegistry) -> None:
    registry.add(
        plugin.BackendSpec(
            name="minimal",
            options=MinimalOptions,
            capabilities=frozenset({plugin.Capability.CHAT}),
            load=lambda ctx: ReverseModel(ctx.options),
            needs_source=False,
        )
    )
