"""``RerankConformance``: one finite score per document, in the documents' order,
independent of the other documents; only core errors."""

from __future__ import annotations

import math
from typing import ClassVar, cast

import pytest

from modelport.core.capabilities import Capability, Rerank
from modelport.core.errors import InvalidRequest, ModelportError
from modelport.core.rerank import RerankRequest, RerankResult

from ._base import ConformanceBase
from ._checks import expect_core_error_or_result, run
from ._subject import MODEL_NAME, LoadedModel, service_for

__all__ = ["RerankConformance"]

HOSTILE_DOCUMENTS = ("", "😀" * 500, "漢字とかなカナ" * 300, "a" * 50_000, "\x00\x01 control \x7f")


class RerankConformance(ConformanceBase):
    """The Rerank contract; subclass it and provide a ``conformance_model`` fixture."""

    capability: ClassVar[Capability] = Capability.RERANK
    query: ClassVar[str] = "How do I bake bread at home?"
    documents: ClassVar[tuple[str, ...]] = (
        "The stock market fell sharply on Tuesday.",
        "Knead the dough, let it rise, and bake the loaf at 220 degrees.",
        "Cats sleep for most of the day.",
    )
    #: The index of the document a real model must score highest (None: a random
    #: test model, whose order means nothing).
    most_relevant: ClassVar[int | None] = None
    #: How close a document's score must be alone and among others.
    tolerance: ClassVar[float] = 1e-4

    def rerank(self, loaded: LoadedModel, documents: tuple[str, ...]) -> RerankResult:
        request = RerankRequest(model=MODEL_NAME, query=self.query, documents=documents)
        return run(cast(Rerank, loaded.model).rerank(request))

    def test_one_finite_score_per_document(self, conformance_model: LoadedModel) -> None:
        result = self.rerank(conformance_model, self.documents)
        assert isinstance(result, RerankResult), type(result)
        assert len(result.scores) == len(self.documents)
        assert all(isinstance(s, float) and math.isfinite(s) for s in result.scores)
        assert isinstance(result.prompt_tokens, int) and result.prompt_tokens > 0
        if self.most_relevant is not None:
            best = max(range(len(result.scores)), key=result.scores.__getitem__)
            assert best == self.most_relevant, f"scores {result.scores}"

    def test_scores_come_in_document_order(self, conformance_model: LoadedModel) -> None:
        together = self.rerank(conformance_model, self.documents).scores
        backwards = self.rerank(conformance_model, tuple(reversed(self.documents))).scores
        for i, document in enumerate(self.documents):
            alone = self.rerank(conformance_model, (document,)).scores[0]
            assert math.isclose(together[i], alone, rel_tol=self.tolerance, abs_tol=1e-6), (
                f"document {i} scored {together[i]} among others and {alone} alone"
            )
            assert math.isclose(backwards[-1 - i], alone, rel_tol=self.tolerance, abs_tol=1e-6)
        assert len(set(together)) > 1, "every document got the same score: order is unproven"

    def test_the_service_refuses_no_documents(self, conformance_model: LoadedModel) -> None:
        request = RerankRequest(model=MODEL_NAME, query=self.query, documents=())
        with pytest.raises(InvalidRequest) as info:
            run(service_for(conformance_model).rerank(request))
        assert info.value.param == "documents"

    def test_hostile_documents_raise_only_core_errors(self, conformance_model: LoadedModel) -> None:
        for document in HOSTILE_DOCUMENTS:
            request = RerankRequest(model=MODEL_NAME, query=self.query, documents=(document,))

            async def attempt(request: RerankRequest = request) -> RerankResult:
                return await service_for(conformance_model).rerank(request)

            outcome = run(expect_core_error_or_result(attempt, f"document {document!r:.60}"))
            if not isinstance(outcome, ModelportError):
                assert len(outcome.scores) == 1 and math.isfinite(outcome.scores[0])
