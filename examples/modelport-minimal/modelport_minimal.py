"""modelport-minimal: a whole backend in one file, to copy. Its "model" answers with the
last message reversed, one character per token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

import msgspec

from modelport import core


class MinimalOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``[models.options]`` in plugins.toml: seconds between two tokens."""

    delay: Annotated[float, msgspec.Meta(ge=0)] = 0.0


class ReverseModel:
    def __init__(self, options: MinimalOptions):
        self.options = options

    async def chat(self, request: core.ChatRequest) -> AsyncIterator[core.ChatEvent]:
        reply = request.messages[-1].text()[::-1]
        tokens = min(request.sampling.max_tokens or len(reply), len(reply))
        yield core.Started(prompt_tokens=len(reply))
        for char in reply[:tokens]:
            await asyncio.sleep(self.options.delay)  # a real runtime generates here
            yield core.TextDelta(text=char)
        usage = core.Usage(prompt_tokens=len(reply), completion_tokens=tokens)
        yield core.Finish(reason="length" if tokens < len(reply) else "stop", usage=usage)


@core.hookimpl
def register_backends(registry: core.BackendRegistry) -> None:
    registry.add(
        core.BackendSpec(
            name="minimal",
            options=MinimalOptions,
            capabilities=frozenset({core.Capability.CHAT}),
            load=lambda ctx: ReverseModel(ctx.options),
            needs_source=False,
        )
    )
