"""instructor: a pydantic response_model through JSON_SCHEMA (response_format), TOOLS
(a forced function call) and RESPONSES_TOOLS (the Responses API with a forced tool)."""

from __future__ import annotations

import instructor
import openai
import pytest

from clients.shared import Report

pytestmark = pytest.mark.e2e

ASK = "Report the weather in Paris: sunny."


@pytest.mark.parametrize("mode", [instructor.Mode.JSON_SCHEMA, instructor.Mode.TOOLS])
def test_chat_completions_modes(api_base: str, mode: instructor.Mode) -> None:
    client = instructor.from_openai(openai.OpenAI(base_url=api_base, api_key="x"), mode=mode)
    report, completion = client.chat.completions.create_with_completion(
        model="smollm2",
        messages=[{"role": "user", "content": ASK}],
        response_model=Report,
        max_tokens=120,
        temperature=0,
        max_retries=0,  # the first answer must already validate
    )
    assert isinstance(report, Report) and report.city
    if mode is instructor.Mode.TOOLS:
        assert completion.choices[0].finish_reason == "tool_calls"


def test_responses_tools(api_base: str) -> None:
    client = instructor.from_openai(
        openai.OpenAI(base_url=api_base, api_key="x"), mode=instructor.Mode.RESPONSES_TOOLS
    )
    report = client.responses.create(
        model="smollm2",
        input=ASK,
        response_model=Report,
        max_output_tokens=120,
        temperature=0,
        max_retries=0,
    )
    assert isinstance(report, Report) and report.city
