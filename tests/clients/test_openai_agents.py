"""openai-agents: an Agent with a function tool and an output_type, through the Chat
Completions model and the Responses model; run_sync, streamed, and multi-turn with
previous_response_id.

SmolLM2 would call the tool again and again under ``auto``, so the agent is told (as a
user steering a small model would) to answer once the tool has run: the hook sets
``tool_choice`` to ``none`` for the next turn, where the output type's schema applies."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from agents import (
    Agent,
    ModelSettings,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    RunHooks,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from openai import AsyncOpenAI

from clients.shared import Report, weather

pytestmark = pytest.mark.e2e

set_tracing_disabled(True)


class AnswerAfterTheTool(RunHooks[Any]):
    async def on_tool_end(self, context: Any, agent: Any, tool: Any, result: str) -> None:
        agent.model_settings = dataclasses.replace(agent.model_settings, tool_choice="none")


def _agent(api_base: str, kind: str) -> Agent[Any]:
    client = AsyncOpenAI(base_url=api_base, api_key="x", max_retries=0)
    model: Any = (
        OpenAIChatCompletionsModel(model="smollm2", openai_client=client)
        if kind == "chat"
        else OpenAIResponsesModel(model="smollm2", openai_client=client)
    )
    return Agent(
        name="weather",
        instructions="Look up the weather with the tool, then report it.",
        tools=[function_tool(weather)],
        output_type=Report,
        model=model,
        model_settings=ModelSettings(tool_choice="required", temperature=0, max_tokens=120),
        reset_tool_choice=False,
    )


def _check(result: Any) -> None:
    assert isinstance(result.final_output, Report) and result.final_output.city
    kinds = [type(item).__name__ for item in result.new_items]
    assert "ToolCallItem" in kinds and "ToolCallOutputItem" in kinds
    assert kinds[-1] == "MessageOutputItem"


@pytest.mark.parametrize("kind", ["chat", "responses"])
def test_a_tool_then_the_output_type(api_base: str, kind: str) -> None:
    result = Runner.run_sync(
        _agent(api_base, kind),
        "What is the weather in Paris?",
        max_turns=4,
        hooks=AnswerAfterTheTool(),
    )
    _check(result)


@pytest.mark.parametrize("kind", ["chat", "responses"])
def test_streamed(api_base: str, kind: str) -> None:
    async def main() -> Any:
        run = Runner.run_streamed(
            _agent(api_base, kind), "Weather in Rome?", max_turns=4, hooks=AnswerAfterTheTool()
        )
        kinds = [event.type async for event in run.stream_events()]
        assert "raw_response_event" in kinds and "run_item_stream_event" in kinds
        return run

    _check(asyncio.run(main()))


def test_multi_turn_with_previous_response_id(api_base: str) -> None:
    first = Runner.run_sync(
        _agent(api_base, "responses"), "Weather in Oslo?", max_turns=4, hooks=AnswerAfterTheTool()
    )
    _check(first)
    assert first.last_response_id and first.last_response_id.startswith("resp_")
    follow = Runner.run_sync(
        _agent(api_base, "responses"),
        "And in Bergen?",
        previous_response_id=first.last_response_id,
        max_turns=4,
        hooks=AnswerAfterTheTool(),
    )
    _check(follow)
