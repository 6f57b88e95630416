"""docs/plugins.md stays true: every hook documented with its exact signature and a
snippet that runs, every BackendSpec field explained, the tutorial's code identical to
the example plugin, and the option errors it shows the ones modelport gives."""

from __future__ import annotations

import inspect
import re
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from modelport.core import BackendSpec, hookspecs
from modelport.core.adapters import AdapterSpec
from modelport.core.config import decode_options
from modelport.core.errors import ConfigError
from modelport.core.plugins import load_plugins
from modelport.testing.conformance import ChatConformance, load_model

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "plugins.md").read_text()
HEADING = re.compile(r"^### `(\w+)\((.*)\) -> (.+)`$", re.M)
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.S)


def _section(title: str) -> str:
    start = DOC.index(f"\n## {title}\n")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end > 0 else None]


def _hook_specs() -> dict[str, Callable[..., Any]]:
    return {
        name: fn
        for name, fn in vars(hookspecs).items()
        if callable(fn) and hasattr(fn, f"{hookspecs.PROJECT}_spec")
    }


def _signature(fn: Callable[..., Any]) -> str:
    """``name(arg: Type, ...) -> Return`` as written in hookspecs.py."""
    sig = inspect.signature(fn)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"{fn.__name__}({params}) -> {sig.return_annotation}"


def _documented_hooks() -> dict[str, tuple[str, str]]:
    """Hook name -> (its signature as documented, the text of its subsection)."""
    hooks = _section("Hooks")
    matches = list(HEADING.finditer(hooks))
    out = {}
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(hooks)
        out[m.group(1)] = (f"{m.group(1)}({m.group(2)}) -> {m.group(3)}", hooks[m.end() : end])
    return out


def test_there_are_hooks_to_document() -> None:
    assert "register_backends" in _hook_specs()


@pytest.mark.parametrize("name", sorted(_hook_specs()))
def test_every_hook_is_documented_with_its_signature(name: str) -> None:
    documented = _documented_hooks()
    assert name in documented, f"hook {name} is not documented in docs/plugins.md ## Hooks"
    assert documented[name][0] == _signature(_hook_specs()[name])


def test_no_documented_hook_is_missing_from_the_specs() -> None:
    assert set(_documented_hooks()) <= set(_hook_specs())


@pytest.mark.parametrize("name", sorted(_hook_specs()))
def test_every_hook_snippet_runs(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = [
        code for lang, code in FENCE.findall(_documented_hooks()[name][1]) if lang == "python"
    ]
    assert blocks, f"hook {name} has no python snippet"
    module = types.ModuleType(f"doc_snippet_{name}")
    monkeypatch.setitem(sys.modules, module.__name__, module)  # as an import would
    exec(compile(blocks[0], f"docs/plugins.md ({name})", "exec"), module.__dict__)
    impl = getattr(module, name, None)
    assert impl is not None and hasattr(impl, f"{hookspecs.PROJECT}_impl"), (
        f"the {name} snippet must define a @hookimpl function named {name}"
    )
    plugins = load_plugins(entry_points=False, extra=[("doc-snippet", module)])
    if name == "register_backends":
        registry = plugins.collect_backends()
        assert registry.names(), "the snippet registered no backend"
        spec = registry.get(registry.names()[0])
        assert spec is not None
        kit = ChatConformance()
        kit.test_stream_is_started_deltas_and_one_finish_with_usage(load_model(spec))
    if name == "register_adapters":
        adapters = plugins.collect_adapters()
        assert adapters.names(), "the snippet registered no adapter"
        _drive_the_adapter(plugins)


def _drive_the_adapter(plugins: Any) -> None:
    """The snippet's adapter, mounted by the real app factory beside the OpenAI API,
    answers through a fake chat model."""
    from litestar.testing import TestClient

    from modelport.adapters.openai.app import create_app
    from modelport.core.config import decode_config
    from modelport.testing.fake import FakePlugin

    plugins.pm.register(FakePlugin(), name="fake")
    plugins.collect_backends()
    config = decode_config('[[models]]\nname = "fake"\nbackend = "fake"\n')
    with TestClient(create_app(config, plugins)) as http:
        resp = http.post("/v1/echo", json={"model": "fake", "text": "one two"})
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"model": "fake", "echo": "one two"}
        assert http.post("/v1/echo", json={"text": "x"}).status_code == 400
        assert http.get("/v1/models").status_code == 200


def test_every_adapterspec_field_is_explained() -> None:
    section = _section("AdapterSpec")
    for field in msgspec.structs.fields(AdapterSpec):
        assert f"| `{field.name}` |" in section, f"AdapterSpec.{field.name} is not documented"


def test_every_backendspec_field_is_explained() -> None:
    section = _section("BackendSpec")
    for field in msgspec.structs.fields(BackendSpec):
        assert f"| `{field.name}` |" in section, f"BackendSpec.{field.name} is not documented"


@pytest.mark.parametrize(
    "path", re.findall(r"<!-- file: (\S+) -->", DOC), ids=lambda p: Path(p).name
)
def test_tutorial_code_is_the_example_plugin(path: str) -> None:
    after = DOC[DOC.index(f"<!-- file: {path} -->") :]
    shown = FENCE.search(after)
    assert shown is not None
    assert shown.group(2) == (ROOT / path).read_text(), f"docs/plugins.md shows an old {path}"


def test_option_errors_shown_are_the_ones_modelport_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "modelport-minimal"))
    from modelport_minimal import MinimalOptions

    marker = re.search(r"<!-- options-errors: (.*) -->\n```text\n(.*?)```", DOC, re.S)
    assert marker is not None
    tables = [msgspec.json.decode(t.strip()) for t in marker.group(1).split(" | ")]
    shown = marker.group(2).splitlines()
    for table, line in zip(tables, shown, strict=True):
        with pytest.raises(ConfigError) as info:
            decode_options(table, MinimalOptions, index=0)
        assert info.value.message == line
