"""Sampling parameters, each declared once: name, type, limits, the feature that gates
it, the value that asks for nothing, a probe value, and what it does.

Everything else derives from :data:`SAMPLING`:

- core's :class:`~modelport.core.types.Sampling` fields (``None``: not given);
- the OpenAI wire fields of chat completions, completions and the Responses API, with
  these limits (a value out of range is a 400 naming it);
- ``[models.defaults]`` in plugins.toml, with the same limits, and its reference docs;
- the declared contract: a request that sets a gated parameter to anything but its
  neutral value needs the feature, or is refused by name;
- the conformance kit's probes: a backend that declares the feature must take the probe
  value, and one that does not must refuse it.

Adding a parameter is one entry here (and, when it is gated, its :class:`Feature`);
a backend then declares the feature and honours the value. Parameters with a shape of
their own (``max_tokens``, ``stop``, ``logit_bias``, ``logprobs``, ``n``) are written out
in ``Sampling`` and mapped by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from .features import Feature

__all__ = ["SAMPLING", "Parameter", "fields_struct", "needs", "values"]


@dataclass(frozen=True)
class Parameter:
    """One sampling parameter."""

    name: str
    type: type[int] | type[float]
    #: The limits of a valid value (``msgspec.Meta(ge=…, le=…)``), on the wire and in
    #: plugins.toml alike.
    limits: msgspec.Meta
    #: What it does, for the docs.
    doc: str
    #: The feature a backend declares to honour it; None: every backend honours it.
    feature: Feature | None = None
    #: A value that asks for nothing (a penalty of 0): it needs no feature.
    neutral: float | None = None
    #: A valid value that really asks for the parameter, for the conformance kit.
    probe: float | None = None

    def annotation(self) -> Any:
        """The type with its limits, or None when not given."""
        return Annotated[self.type, self.limits] | None


SAMPLING: tuple[Parameter, ...] = (
    Parameter(
        name="temperature",
        type=float,
        limits=msgspec.Meta(ge=0, le=2),
        doc="Sampling temperature; 0 is greedy.",
    ),
    Parameter(
        name="top_p",
        type=float,
        limits=msgspec.Meta(ge=0, le=1),
        doc="Nucleus sampling: keep the most likely tokens up to this mass.",
    ),
    Parameter(
        name="seed",
        type=int,
        limits=msgspec.Meta(),
        doc="Seed for reproducible sampling.",
        feature=Feature.SEED,
        probe=7,
    ),
    Parameter(
        name="frequency_penalty",
        type=float,
        limits=msgspec.Meta(ge=-2, le=2),
        doc="Penalty on tokens by how often they appeared.",
        feature=Feature.PENALTIES,
        neutral=0.0,
        probe=0.5,
    ),
    Parameter(
        name="presence_penalty",
        type=float,
        limits=msgspec.Meta(ge=-2, le=2),
        doc="Penalty on tokens that appeared at all.",
        feature=Feature.PENALTIES,
        neutral=0.0,
        probe=0.5,
    ),
    Parameter(
        name="top_k",
        type=int,
        limits=msgspec.Meta(ge=0),
        doc="Keep only the k most likely tokens; 0 disables it.",
        feature=Feature.TOP_K,
        neutral=0,
        probe=5,
    ),
    Parameter(
        name="min_p",
        type=float,
        limits=msgspec.Meta(ge=0, le=1),
        doc="Drop tokens less likely than this fraction of the most likely.",
        feature=Feature.MIN_P,
        neutral=0.0,
        probe=0.1,
    ),
    Parameter(
        name="typical_p",
        type=float,
        limits=msgspec.Meta(gt=0, le=1),
        doc="Locally typical sampling: keep the tokens closest to the expected "
        "information, up to this mass; 1 disables it.",
        feature=Feature.TYPICAL_P,
        neutral=1.0,
        probe=0.5,
    ),
    Parameter(
        name="repeat_penalty",
        type=float,
        limits=msgspec.Meta(gt=0),
        doc="llama.cpp-style repetition penalty; 1 disables it.",
        feature=Feature.PENALTIES,
        neutral=1.0,
        probe=1.3,
    ),
)


def fields_struct(name: str, base: type, *, limits: bool, **options: Any) -> Any:
    """A Struct type derived from ``base`` with one field per declared parameter (None
    when not given), with their limits or without; ``options`` are msgspec's Struct
    options (``frozen``, ``kw_only``, ...). Subclass it to add fields of your own."""
    return msgspec.defstruct(
        name,
        [(p.name, p.annotation() if limits else p.type | None, None) for p in SAMPLING],
        bases=(base,),
        module=base.__module__,
        **options,
    )


def values(source: object) -> dict[str, Any]:
    """Every declared parameter's value on ``source`` (a wire request, a config table)."""
    return {p.name: getattr(source, p.name) for p in SAMPLING}


def needs(sampling: object) -> Iterator[tuple[Feature, str]]:
    """(feature, parameter) for each gated parameter ``sampling`` sets to anything but
    its neutral value."""
    for p in SAMPLING:
        value = getattr(sampling, p.name)
        if p.feature is not None and value is not None and value != p.neutral:
            yield p.feature, p.name
