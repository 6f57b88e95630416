"""``ChatConformance`` and ``CompleteConformance``: the generation contract per capability."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar, cast

import msgspec
import pytest

from modelport.core.capabilities import Capability, Chat, Complete, Feature
from modelport.core.config import ReasoningConfig
from modelport.core.errors import InvalidRequest
from modelport.core.generation import Collected, collect
from modelport.core.reasoning import split_reasoning
from modelport.core.service import ModelService
from modelport.core.types import (
    ChatRequest,
    CompletionRequest,
    ImagePart,
    Message,
    ResponseFormat,
    TextPart,
    Thinking,
    Tool,
)

from ._checks import drain, run
from ._generation import SAMPLING_PROBES, FeatureProbe, GenerationConformance, sampling_of
from ._subject import MODEL_NAME, LoadedModel, service_for

__all__ = ["ChatConformance", "CompleteConformance"]

# A 1x1 transparent PNG: an image part that needs no network.
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNk"
    "YAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
WEATHER = Tool(
    name="get_weather",
    description="The weather in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)


def _replace(request: Any, **changes: Any) -> Any:
    return msgspec.structs.replace(request, **changes)


def _with_image(request: ChatRequest) -> ChatRequest:
    text = request.messages[0].text()
    parts = (TextPart(text=text), ImagePart(url=PIXEL))
    return msgspec.structs.replace(request, messages=(Message(role="user", content=parts),))


CHAT_PROBES: dict[Feature, FeatureProbe] = {
    **SAMPLING_PROBES,
    Feature.TOOLS: (lambda r: _replace(r, tools=(WEATHER,)), "tools"),
    Feature.JSON_OBJECT: (
        lambda r: _replace(r, response_format=ResponseFormat(type="json_object")),
        "response_format",
    ),
    Feature.JSON_SCHEMA: (
        lambda r: _replace(
            r,
            response_format=ResponseFormat(
                type="json_schema", name="answer", schema={"type": "object"}
            ),
        ),
        "response_format",
    ),
    Feature.VISION: (_with_image, "messages[0].content[1]"),
}

COMPLETE_PROBES: dict[Feature, FeatureProbe] = {
    **SAMPLING_PROBES,
    Feature.ECHO: (lambda r: _replace(r, echo=True), "echo"),
    Feature.SUFFIX: (lambda r: _replace(r, suffix=" The end."), "suffix"),
    Feature.TOKEN_INPUT: (lambda r: _replace(r, prompt=(1, 2, 3)), "prompt"),
}


class ChatConformance(GenerationConformance):
    """The Chat contract. Subclass it and provide a ``conformance_model`` fixture::

    @pytest.fixture(scope="module")
    def conformance_model():
        return load_model("my-backend", source="model.bin")

    class TestMyChat(ChatConformance):
        pass
    """

    capability: ClassVar[Capability] = Capability.CHAT
    probes: ClassVar[dict[Feature, FeatureProbe]] = CHAT_PROBES

    def request(self, text: str, **sampling: Any) -> ChatRequest:
        return ChatRequest(
            model=MODEL_NAME,
            messages=(Message(role="user", content=text),),
            sampling=sampling_of(**sampling),
        )

    def backend_stream(self, model: object, request: ChatRequest) -> AsyncIterator[Any]:
        return cast(Chat, model).chat(request)

    def service_stream(self, service: ModelService, request: ChatRequest) -> AsyncIterator[Any]:
        return service.chat(request)

    def hostile_requests(self) -> list[Any]:
        plain = self.request(self.prompt, max_tokens=4, temperature=0.0)
        conversations = [
            (Message(role="system", content="You are terse."),),
            (Message(role="user", content="hi"), Message(role="assistant", content="hello")),
            (Message(role="user", content=None),),
            (
                Message(role="user", content=(TextPart(text="two "), TextPart(text="parts"))),
                Message(role="tool", content="42", tool_call_id="call_1"),
            ),
        ]
        return super().hostile_requests() + [_replace(plain, messages=m) for m in conversations]

    # --- reasoning: a backend that declares Feature.REASONING follows the thinking -----

    def _think(self, model: LoadedModel, thinking: Thinking, max_tokens: int) -> Collected:
        """A generation whose template "opened" a thinking block closed by ``</think>``
        (which a model that does not reason never writes itself), split by core."""
        request = _replace(self.greedy(max_tokens), thinking=thinking)
        config = ReasoningConfig(end=thinking.end, opened_by_template=True)
        return run(collect(split_reasoning(self.backend_stream(model.model, request), config)))

    def test_a_spent_thinking_budget_closes_the_block(self, conformance_model: LoadedModel) -> None:
        if Feature.REASONING not in self._features(conformance_model):
            pytest.skip("the backend does not declare 'reasoning'")
        end, budget, limit = "</think>", 3, 24
        thinking = Thinking(start="<think>", end=end, opened=True, budget=budget)
        out = self._think(conformance_model, thinking, limit)
        spent = out.usage.reasoning_tokens
        # the budget's tokens, then the end marker's (at most one token per character)
        assert budget < spent <= budget + len(end), (
            f"with a budget of {budget} thinking tokens the block closed after {spent}; "
            "the backend must force the end marker's tokens once the budget is spent"
        )
        assert out.reasoning and out.usage.completion_tokens > spent, "no answer followed"

    def test_thinking_switched_off_closes_the_block_at_once(
        self, conformance_model: LoadedModel
    ) -> None:
        if Feature.REASONING not in self._features(conformance_model):
            pytest.skip("the backend does not declare 'reasoning'")
        thinking = Thinking(start="<think>", end="</think>", opened=True, enabled=False)
        out = self._think(conformance_model, thinking, 12)
        assert out.reasoning == "" and out.usage.reasoning_tokens <= len("</think>"), (
            f"with thinking switched off the block must close at once; it thought "
            f"{out.usage.reasoning_tokens} tokens"
        )
        assert out.usage.completion_tokens > out.usage.reasoning_tokens, "no answer followed"


class CompleteConformance(GenerationConformance):
    """The Complete (``/v1/completions``) contract; subclass it like ``ChatConformance``."""

    capability: ClassVar[Capability] = Capability.COMPLETE
    prompt: ClassVar[str] = "one, two, three, four, five, six, seven, eight, nine, ten, eleven,"
    probes: ClassVar[dict[Feature, FeatureProbe]] = COMPLETE_PROBES

    def request(self, text: str, **sampling: Any) -> CompletionRequest:
        return CompletionRequest(model=MODEL_NAME, prompt=text, sampling=sampling_of(**sampling))

    def backend_stream(self, model: object, request: CompletionRequest) -> AsyncIterator[Any]:
        return cast(Complete, model).complete(request)

    def service_stream(
        self, service: ModelService, request: CompletionRequest
    ) -> AsyncIterator[Any]:
        return service.complete(request)

    def test_token_ids_outside_the_vocabulary_are_refused(
        self, conformance_model: LoadedModel
    ) -> None:
        if Feature.TOKEN_INPUT not in self._features(conformance_model):
            pytest.skip("the backend does not declare 'token_input'")
        request = _replace(self.greedy(4), prompt=(5, 10**9))
        with pytest.raises(InvalidRequest) as info:
            run(drain(self.service_stream(service_for(conformance_model), request)))
        assert info.value.param == "prompt", (
            "a token id outside the model's vocabulary must be refused naming the prompt; "
            "give the loaded model a vocab_size attribute"
        )

    def test_echo_puts_the_prompt_first(self, conformance_model: LoadedModel) -> None:
        if Feature.ECHO not in self._features(conformance_model):
            pytest.skip("the backend does not declare 'echo'")
        request = _replace(self.greedy(self.max_tokens), echo=True)
        stream = run(drain(self.service_stream(service_for(conformance_model), request)))
        assert stream.text.startswith(self.prompt), stream.text
