"""The kit as a plugin author meets it: installed as a pytest plugin, one fixture, done."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

AUTHOR_SUITE = """
import pytest

from modelport.testing.conformance import ChatConformance, EmbedConformance, load_model
from modelport.testing.fake import FakePlugin


@pytest.fixture(scope="module")
def conformance_model():
    return load_model("fake", plugins=[FakePlugin()])


class TestFakeChat(ChatConformance):
    pass


class TestFakeEmbed(EmbedConformance):
    pass


def test_not_from_the_kit():
    pass
"""


@pytest.fixture(autouse=True)
def _quiet_asyncio_plugin(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


def test_the_entry_point_loads_the_plugin(pytestconfig: pytest.Config) -> None:
    plugin = pytestconfig.pluginmanager.get_plugin("modelport")
    assert plugin is not None and plugin.__name__ == "modelport.testing.pytest_plugin"


def test_an_author_suite_runs_the_whole_kit_from_one_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_author=AUTHOR_SUITE)
    result = pytester.runpytest("--strict-markers", "-m", "modelport_conformance", "-q")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, result.stdout.str()
    assert outcomes["passed"] >= 20
    assert outcomes["deselected"] == 1  # the author's own test carries no kit marker


def test_a_suite_without_the_fixture_is_told_what_to_provide(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_author="""
        from modelport.testing.conformance import ChatConformance

        class TestNoModel(ChatConformance):
            pass
        """
    )
    result = pytester.runpytest("-q")
    outcomes = result.parseoutcomes()
    assert "passed" not in outcomes and outcomes["errors"] >= 10, outcomes
    result.stdout.fnmatch_lines(["*fixture 'conformance_model' not found*"])
