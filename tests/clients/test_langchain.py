"""langchain-openai: ChatOpenAI invoke and stream, bind_tools with a tool_choice,
with_structured_output by json_schema and by function_calling, the Responses API
(use_responses_api=True), and OpenAIEmbeddings with its defaults (tiktoken ids: a clear
400) and with text input (the same vectors as the openai SDK's)."""

from __future__ import annotations

import math

import openai
import pytest
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI, OpenAIEmbeddings

from clients.shared import Report, weather
from helpers import tiktoken_offline

pytestmark = pytest.mark.e2e


def _chat(api_base: str, **extra: object) -> ChatOpenAI:
    return ChatOpenAI(
        model="smollm2",
        base_url=api_base,
        api_key="x",  # type: ignore[arg-type]
        temperature=0,
        max_tokens=120,  # type: ignore[call-arg]
        max_retries=0,
        **extra,  # type: ignore[arg-type]
    )


def test_invoke_and_stream(api_base: str) -> None:
    llm = _chat(api_base)
    answer = llm.invoke("Name a colour.")
    assert isinstance(answer.content, str) and answer.content
    assert answer.usage_metadata and answer.usage_metadata["output_tokens"] > 0
    streamed = "".join(str(chunk.content) for chunk in llm.stream("Name a colour."))
    assert streamed == answer.content


def test_bind_tools_with_a_forced_choice(api_base: str) -> None:
    llm = _chat(api_base).bind_tools([tool(weather)], tool_choice="weather")
    message = llm.invoke("What is the weather in Paris?")
    assert message.tool_calls and message.tool_calls[0]["name"] == "weather"  # type: ignore[attr-defined]
    assert isinstance(message.tool_calls[0]["args"]["city"], str)  # type: ignore[attr-defined]


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_structured_output(api_base: str, method: str) -> None:
    structured = _chat(api_base).with_structured_output(Report, method=method)  # type: ignore[arg-type]
    report = structured.invoke("Report the weather in Paris: sunny.")
    assert isinstance(report, Report) and report.city


def test_the_responses_api(api_base: str) -> None:
    llm = _chat(api_base, use_responses_api=True)
    answer = llm.invoke("Name a colour.")
    assert answer.text and answer.response_metadata.get("id", "").startswith("resp_")
    report = llm.with_structured_output(Report, method="json_schema").invoke(
        "Report the weather in Paris: sunny."
    )
    assert isinstance(report, Report)


def _embeddings(api_base: str, **extra: object) -> OpenAIEmbeddings:
    return OpenAIEmbeddings(
        model="all-minilm",
        base_url=api_base,
        api_key="x",  # type: ignore[arg-type]
        max_retries=0,
        **extra,  # type: ignore[arg-type]
    )


def test_embeddings_with_text_match_the_sdk(api_base: str) -> None:
    text = "The cat sits on the mat."
    vector = _embeddings(api_base, check_embedding_ctx_length=False).embed_query(text)
    direct = openai.OpenAI(base_url=api_base, api_key="x").embeddings.create(
        model="all-minilm", input=text
    )
    assert len(vector) == 384
    pairs = zip(vector, direct.data[0].embedding, strict=True)
    assert all(math.isclose(a, b, abs_tol=1e-5) for a, b in pairs)


def test_embeddings_with_its_defaults_are_a_clear_400(api_base: str) -> None:
    tiktoken_offline()  # its defaults count tokens with tiktoken, then send the ids
    with pytest.raises(openai.BadRequestError) as info:
        _embeddings(api_base).embed_documents(["The cat sits on the mat."])
    assert info.value.body["param"] == "input[0]"  # type: ignore[index]
    assert "another tokenizer" in info.value.body["message"]  # type: ignore[index]
