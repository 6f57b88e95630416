"""The pytest plugin of modelport's conformance kit (entry point ``pytest11``).

Installed with modelport, so a plugin author's test suite needs no ``conftest.py``
wiring: it registers the ``modelport_conformance`` marker and puts it on every check
a conformance class contributes. It imports nothing heavy: loading it costs a pytest run
in this environment nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

MARKER = "modelport_conformance"
KIT = "modelport.testing.conformance"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: a check from modelport's backend conformance kit"
    )


def _is_conformance_class(cls: Any) -> bool:
    """Whether ``cls`` inherits a kit class (without importing the kit: a suite that
    never imported it has none)."""
    return any(base.__module__.startswith(KIT) for base in getattr(cls, "__mro__", ()))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        cls = getattr(item, "cls", None)
        if cls is not None and _is_conformance_class(cls):
            item.add_marker(MARKER)
