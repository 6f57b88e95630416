"""``EmbedConformance``: one fixed-size vector per input, in order; only core errors."""

from __future__ import annotations

import math
from typing import Any, ClassVar, cast

import pytest

from modelport.core.capabilities import Capability, Embed, Feature
from modelport.core.errors import InvalidRequest, ModelportError, Unsupported
from modelport.core.types import EmbedRequest, EmbedResult

from ._base import ConformanceBase
from ._checks import expect_core_error_or_result, run
from ._subject import MODEL_NAME, LoadedModel, service_for

__all__ = ["EmbedConformance"]

HOSTILE_INPUTS = ("", "😀" * 500, "漢字とかなカナ" * 300, "a" * 50_000, "\x00\x01 control \x7f")


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


class EmbedConformance(ConformanceBase):
    """The Embed contract; subclass it and provide a ``conformance_model`` fixture."""

    capability: ClassVar[Capability] = Capability.EMBED
    #: Distinct texts whose vectors the checks compare.
    texts: ClassVar[tuple[str, ...]] = (
        "The cat sits on the mat.",
        "Quarterly revenue grew by four percent.",
        "Photosynthesis turns light into chemical energy.",
    )
    #: How close a vector must be to itself across calls and batch positions.
    tolerance: ClassVar[float] = 1e-4

    def embed(self, loaded: LoadedModel, inputs: Any, **fields: Any) -> EmbedResult:
        request = EmbedRequest(model=MODEL_NAME, inputs=inputs, **fields)
        return run(cast(Embed, loaded.model).embed(request))

    def through_service(self, loaded: LoadedModel, inputs: Any, **fields: Any) -> EmbedResult:
        request = EmbedRequest(model=MODEL_NAME, inputs=inputs, **fields)
        return run(service_for(loaded).embed(request))

    def test_one_fixed_size_finite_vector_per_input(self, conformance_model: LoadedModel) -> None:
        result = self.embed(conformance_model, self.texts)
        assert isinstance(result, EmbedResult), type(result)
        assert len(result.vectors) == len(self.texts)
        single = self.embed(conformance_model, ("x",)).vectors[0]
        sizes = {len(v) for v in result.vectors} | {len(single)}
        assert len(sizes) == 1 and sizes != {0}, f"vector sizes differ: {sizes}"
        for vector in result.vectors:
            assert all(isinstance(x, float) and math.isfinite(x) for x in vector)
        assert isinstance(result.prompt_tokens, int) and result.prompt_tokens >= 0

    def test_vectors_come_in_input_order(self, conformance_model: LoadedModel) -> None:
        batch = self.embed(conformance_model, self.texts).vectors
        reversed_batch = self.embed(conformance_model, tuple(reversed(self.texts))).vectors
        for i, text in enumerate(self.texts):
            alone = self.embed(conformance_model, (text,)).vectors[0]
            assert _cosine(batch[i], alone) > 1 - self.tolerance, f"input {i} moved in the batch"
            assert _cosine(reversed_batch[-1 - i], alone) > 1 - self.tolerance
        assert _cosine(batch[0], batch[1]) < 1 - self.tolerance, (
            "different texts gave the same vector: the order check proves nothing"
        )

    def test_dimensions_truncate_to_unit_vectors(self, conformance_model: LoadedModel) -> None:
        size = len(self.embed(conformance_model, self.texts[:1]).vectors[0])
        if size < 2:
            pytest.skip("vectors of one value cannot be truncated")
        result = self.through_service(conformance_model, self.texts, dimensions=size // 2)
        for vector in result.vectors:
            assert len(vector) == size // 2
            assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-3)
        with pytest.raises(InvalidRequest):
            self.through_service(conformance_model, self.texts, dimensions=size + 1)

    def test_token_input_follows_the_declared_contract(
        self, conformance_model: LoadedModel
    ) -> None:
        features = conformance_model.spec.model_features(
            conformance_model.decoded_options(), conformance_model.model
        )
        tokens = ((1000, 2000, 3000), (4000, 5000))
        if Feature.TOKEN_INPUT in features:
            assert len(self.through_service(conformance_model, tokens).vectors) == 2
            # an id of no vocabulary: the model declares its vocab_size (core refuses it)
            # or refuses it itself, naming the input
            with pytest.raises(InvalidRequest) as info:
                self.through_service(conformance_model, ((5, 6), (10**9,)))
            assert info.value.param == "input[1]", (
                "a token id outside the model's vocabulary must be refused naming input[1]; "
                "give the loaded model a vocab_size attribute"
            )
        else:
            with pytest.raises(Unsupported) as info:
                self.through_service(conformance_model, tokens)
            assert info.value.param == "input"

    def test_hostile_input_raises_only_core_errors(self, conformance_model: LoadedModel) -> None:
        for text in HOSTILE_INPUTS:
            request = EmbedRequest(model=MODEL_NAME, inputs=(text,))

            async def attempt(request: EmbedRequest = request) -> EmbedResult:
                return await service_for(conformance_model).embed(request)

            outcome = run(expect_core_error_or_result(attempt, f"input {text!r:.60}"))
            if not isinstance(outcome, ModelportError):
                assert len(outcome.vectors) == 1
