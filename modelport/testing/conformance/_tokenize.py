"""``TokenizeConformance``: token ids of the model's vocabulary, text back from them,
pieces that match the ids, messages tokenized or refused by name."""

from __future__ import annotations

from typing import ClassVar, cast

from modelport.core.capabilities import Capability, Tokenize
from modelport.core.errors import InvalidRequest, Unsupported
from modelport.core.tokenization import (
    DetokenizeRequest,
    DetokenizeResult,
    TokenizeRequest,
    TokenizeResult,
)
from modelport.core.types import Message

from ._base import ConformanceBase
from ._checks import run
from ._subject import MODEL_NAME, LoadedModel, service_for

__all__ = ["TokenizeConformance"]


class TokenizeConformance(ConformanceBase):
    """The Tokenize contract; subclass it and provide a ``conformance_model`` fixture."""

    capability: ClassVar[Capability] = Capability.TOKENIZE
    #: Lower-case ASCII, so that every tokenizer (uncased ones too) gives it back.
    text: ClassVar[str] = "the cat sat on the mat and looked at the garden."

    def tokenize(self, loaded: LoadedModel, **fields: object) -> TokenizeResult:
        request = TokenizeRequest(model=MODEL_NAME, **fields)  # type: ignore[arg-type]
        return run(cast(Tokenize, loaded.model).tokenize(request))

    def detokenize(self, loaded: LoadedModel, tokens: tuple[int, ...]) -> DetokenizeResult:
        request = DetokenizeRequest(model=MODEL_NAME, tokens=tokens)
        return run(cast(Tokenize, loaded.model).detokenize(request))

    def test_ids_of_its_vocabulary_and_text_back(self, conformance_model: LoadedModel) -> None:
        plain = self.tokenize(conformance_model, text=self.text, add_special=False)
        assert isinstance(plain, TokenizeResult), type(plain)
        assert plain.tokens and all(isinstance(t, int) and t >= 0 for t in plain.tokens)
        vocab = getattr(conformance_model.model, "vocab_size", None)
        if vocab is not None:
            assert max(plain.tokens) < vocab
        back = self.detokenize(conformance_model, plain.tokens).text
        assert back.strip() == self.text, f"{self.text!r} came back as {back!r}"
        special = self.tokenize(conformance_model, text=self.text)
        assert len(special.tokens) >= len(plain.tokens), "add_special removed tokens"

    def test_pieces_match_the_ids(self, conformance_model: LoadedModel) -> None:
        result = self.tokenize(conformance_model, text=self.text, with_pieces=True)
        assert result.pieces is not None, "with_pieces gave no pieces"
        assert tuple(p.id for p in result.pieces) == result.tokens
        assert self.tokenize(conformance_model, text=self.text).pieces is None

    def test_messages_are_tokenized_or_refused_by_name(
        self, conformance_model: LoadedModel
    ) -> None:
        messages = (Message(role="user", content=self.text),)
        try:
            result = self.tokenize(conformance_model, messages=messages)
        except Unsupported as exc:
            assert exc.param == "messages"
            return
        assert len(result.tokens) > len(self.tokenize(conformance_model, text=self.text).tokens)

    def test_the_service_checks_ids_against_the_vocabulary(
        self, conformance_model: LoadedModel
    ) -> None:
        if getattr(conformance_model.model, "vocab_size", None) is None:
            return
        request = DetokenizeRequest(model=MODEL_NAME, tokens=(1, 10**9))
        try:
            run(service_for(conformance_model).detokenize(request))
        except InvalidRequest as exc:
            assert exc.param == "tokens"
        else:
            raise AssertionError("an id outside the vocabulary was detokenized")
