"""What every conformance class checks: the fixture, the options Struct, the capabilities."""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec
import pytest

from modelport.core.capabilities import METHODS_OF, Capability
from modelport.core.config import decode_options
from modelport.core.errors import ConfigError

from ._subject import LoadedModel

__all__ = ["ConformanceBase"]

UNKNOWN_KEY = "no_such_option_for_conformance"
# Option types that accept a table, so no single value is surely the wrong type.
_ANY_VALUE = (
    msgspec.inspect.AnyType,
    msgspec.inspect.DictType,
    msgspec.inspect.StructType,
    msgspec.inspect.TypedDictType,
    msgspec.inspect.DataclassType,
)
_WRONG_VALUE = {"a table": "where a scalar belongs"}


def _accepts_any_table(info: Any) -> bool:
    kinds = info.types if isinstance(info, msgspec.inspect.UnionType) else (info,)
    return any(isinstance(k, _ANY_VALUE) for k in kinds)


class ConformanceBase:
    """Subclass a capability's conformance class (not this one) and provide a fixture
    named ``conformance_model`` returning a ``LoadedModel`` (see ``load_model``): a
    module-level fixture (one model for every class in the module) or a classmethod
    fixture in the class."""

    capability: ClassVar[Capability]

    # --- the spec -------------------------------------------------------------------

    def test_declares_and_implements_the_capability(self, conformance_model: LoadedModel) -> None:
        spec, options = conformance_model.spec, conformance_model.decoded_options()
        served = spec.model_capabilities(options)
        assert self.capability in served, (
            f"backend {spec.name!r} with these options serves {sorted(served)}, "
            f"not {self.capability}"
        )
        assert served <= spec.capabilities, (
            f"capabilities_for() returned {sorted(served - spec.capabilities)}, which the "
            "spec's capabilities do not list"
        )
        undeclared = spec.model_features(options) - spec.features
        assert not undeclared, (
            f"features_for() returned {sorted(undeclared)}, which the spec's features do not list"
        )
        for capability in served:
            for name in METHODS_OF[capability]:
                method = getattr(conformance_model.model, name, None)
                assert callable(method), (
                    f"{type(conformance_model.model).__name__} serves {capability} but has no "
                    f"{name}() method"
                )

    # --- options --------------------------------------------------------------------

    def test_unknown_option_is_a_config_error_naming_the_key(
        self, conformance_model: LoadedModel
    ) -> None:
        struct = conformance_model.spec.options
        try:
            decode_options({UNKNOWN_KEY: 1}, struct, index=0)
        except ConfigError as exc:
            assert UNKNOWN_KEY in exc.message, exc.message
            assert (exc.param or "").startswith("models[0].options"), exc.param
        else:
            raise AssertionError(
                f"{struct.__name__} accepted an unknown key: a misspelled option would be "
                "ignored silently; declare it with forbid_unknown_fields=True"
            )

    def test_option_of_the_wrong_type_is_a_config_error_naming_the_key(
        self, conformance_model: LoadedModel
    ) -> None:
        struct = conformance_model.spec.options
        info: Any = msgspec.inspect.type_info(struct)
        assert isinstance(info, msgspec.inspect.StructType), (
            f"the options of backend {conformance_model.spec.name!r} must be a msgspec.Struct"
        )
        options = msgspec.to_builtins(conformance_model.decoded_options())
        for field in info.fields:
            if _accepts_any_table(field.type):
                continue
            bad = {**options, field.encode_name: _WRONG_VALUE}
            with pytest.raises(ConfigError) as raised:
                decode_options(bad, struct, index=0)
            path = f"models[0].options.{field.encode_name}"
            assert raised.value.param == path, (
                f"a wrong {field.encode_name!r} gave param {raised.value.param!r}, not {path!r}"
            )
            assert path in raised.value.message, raised.value.message

    def test_missing_required_option_is_a_config_error_naming_the_key(
        self, conformance_model: LoadedModel
    ) -> None:
        struct = conformance_model.spec.options
        info: Any = msgspec.inspect.type_info(struct)
        options = msgspec.to_builtins(conformance_model.decoded_options())
        required = [f for f in info.fields if f.required]
        for field in required:
            rest = {k: v for k, v in options.items() if k != field.encode_name}
            with pytest.raises(ConfigError) as raised:
                decode_options(rest, struct, index=0)
            assert field.encode_name in raised.value.message, raised.value.message
