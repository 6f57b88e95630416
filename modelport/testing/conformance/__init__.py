"""modelport's conformance kit: the whole backend contract, as pytest classes.

A plugin author subclasses the class of each capability the backend serves and gives
one fixture, ``conformance_model``, returning a loaded model::

    from modelport.testing.conformance import ChatConformance, load_model

    @pytest.fixture(scope="module")
    def conformance_model():
        return load_model("my-backend", source="model.bin", options={"threads": 2})

    class TestMyChat(ChatConformance):
        pass

The kit is installed as a pytest plugin (entry point ``pytest11``): its checks carry the
``modelport_conformance`` marker, so ``pytest -m modelport_conformance`` runs only them.
"""

from ._chat import ChatConformance, CompleteConformance
from ._checks import Stream, busy_pool_threads
from ._embed import EmbedConformance
from ._generation import GenerationConformance
from ._image import ImageConformance, png_size
from ._rerank import RerankConformance
from ._subject import (
    MODEL_NAME,
    LoadedModel,
    find_spec,
    load_configured,
    load_model,
    service_for,
)
from ._tokenize import TokenizeConformance

__all__ = [
    "CONFORMANCE_CLASSES",
    "MODEL_NAME",
    "ChatConformance",
    "CompleteConformance",
    "EmbedConformance",
    "GenerationConformance",
    "ImageConformance",
    "LoadedModel",
    "RerankConformance",
    "Stream",
    "TokenizeConformance",
    "busy_pool_threads",
    "find_spec",
    "load_configured",
    "load_model",
    "png_size",
    "service_for",
]

CONFORMANCE_CLASSES = (
    ChatConformance,
    CompleteConformance,
    EmbedConformance,
    ImageConformance,
    RerankConformance,
    TokenizeConformance,
)
