"""pydantic-ai: OpenAIChatModel and OpenAIResponsesModel, each with a typed output plus a
tool (its default tool output), and NativeOutput plus a tool (the output type as
``response_format`` / ``text.format`` together with the tool).

SmolLM2 would call the tool forever; pydantic-ai's own ``prepare`` hook offers it only
until it has been used, as its docs show for dynamic tools."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic_ai import Agent, NativeOutput, RunContext, Tool
from pydantic_ai.messages import ToolCallPart, ToolReturnPart
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.tools import ToolDefinition

from clients.shared import Report, weather

pytestmark = pytest.mark.e2e


async def _once(ctx: RunContext[Any], tool: ToolDefinition) -> ToolDefinition | None:
    """Offer the tool until it has been used."""
    parts = [p for m in ctx.messages for p in m.parts]
    used = any(isinstance(p, ToolReturnPart) and p.tool_name == tool.name for p in parts)
    return None if used else tool


@pytest.mark.parametrize("model_class", [OpenAIChatModel, OpenAIResponsesModel])
@pytest.mark.parametrize("native", [False, True], ids=["tool-output", "native-output"])
def test_a_typed_output_plus_a_tool(api_base: str, model_class: Any, native: bool) -> None:
    model = model_class("smollm2", provider=OpenAIProvider(base_url=api_base, api_key="x"))
    agent = Agent(
        model,
        output_type=NativeOutput(Report) if native else Report,
        tools=[Tool(weather, prepare=_once)],
        model_settings={"temperature": 0, "max_tokens": 150},
    )
    result = agent.run_sync("What is the weather in Paris?")
    assert isinstance(result.output, Report) and result.output.city
    calls = [
        p.tool_name for m in result.all_messages() for p in m.parts if isinstance(p, ToolCallPart)
    ]
    assert calls[0] == "weather"  # the tool first, then the typed answer
    if not native:
        assert calls[-1] == "final_result"  # its default: the output as a tool call
