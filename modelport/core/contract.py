"""The declared contract: a request that needs a feature the model lacks is refused.

Each check names the request parameter at fault, so the client gets a 400 that says
exactly what to drop, never a silent ignore and never a 500.
"""

from __future__ import annotations

from collections.abc import Iterator

from . import parameters
from .capabilities import Feature
from .errors import Unsupported
from .tokenization import TokenizeRequest
from .types import ChatRequest, CompletionRequest, EmbedRequest, ImageData, ImagePart, Sampling

__all__ = ["check_chat", "check_completion", "check_embed", "check_tokenize"]


def _sampling_needs(s: Sampling) -> Iterator[tuple[Feature, str]]:
    yield from parameters.needs(s)  # every declared, gated sampling parameter
    if s.logit_bias:
        yield Feature.LOGIT_BIAS, "logit_bias"


def _refuse(needs: Iterator[tuple[Feature, str]], features: frozenset[Feature], model: str) -> None:
    for feature, param in needs:
        if feature not in features:
            raise Unsupported(
                f"model {model!r} does not support '{param}' (feature '{feature}'); "
                f"remove it or use a model whose capabilities list it",
                param=param,
            )


def _chat_needs(req: ChatRequest) -> Iterator[tuple[Feature, str]]:
    yield from _sampling_needs(req.sampling)
    if req.sampling.logprobs:
        yield Feature.LOGPROBS, "logprobs"
    if req.sampling.top_logprobs:
        yield Feature.LOGPROBS, "top_logprobs"
    if req.tools:
        yield Feature.TOOLS, "tools"
    if req.response_format.type == "json_object":
        yield Feature.JSON_OBJECT, "response_format"
    if req.response_format.type == "json_schema":
        yield Feature.JSON_SCHEMA, "response_format"
    for i, msg in enumerate(req.messages):
        if isinstance(msg.content, tuple):
            for j, part in enumerate(msg.content):
                if isinstance(part, ImagePart | ImageData):
                    yield Feature.VISION, f"messages[{i}].content[{j}]"


def check_chat(req: ChatRequest, features: frozenset[Feature]) -> None:
    _refuse(_chat_needs(req), features, req.model)


def _completion_needs(req: CompletionRequest) -> Iterator[tuple[Feature, str]]:
    yield from _sampling_needs(req.sampling)
    if req.sampling.logprobs:
        yield Feature.LOGPROBS, "logprobs"
    if req.echo:
        yield Feature.ECHO, "echo"
    if req.suffix:
        yield Feature.SUFFIX, "suffix"
    if req.best_of not in (None, 1):
        # core ranks best_of candidates by their log-probabilities
        yield Feature.LOGPROBS, "best_of"
    if not isinstance(req.prompt, str):
        yield Feature.TOKEN_INPUT, "prompt"


def check_completion(req: CompletionRequest, features: frozenset[Feature]) -> None:
    _refuse(_completion_needs(req), features, req.model)


def check_tokenize(req: TokenizeRequest, features: frozenset[Feature]) -> None:
    """A suffix (the fill-in-the-middle prompt) needs the model's FIM tokens."""
    needs = [(Feature.SUFFIX, "suffix")] if req.suffix is not None else []
    _refuse(iter(needs), features, req.model)


def check_embed(req: EmbedRequest, features: frozenset[Feature]) -> None:
    needs: list[tuple[Feature, str]] = []
    if req.inputs and not isinstance(req.inputs[0], str):
        needs.append((Feature.TOKEN_INPUT, "input"))
    _refuse(iter(needs), features, req.model)
