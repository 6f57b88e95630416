"""docs/configuration.md is generated from the config Structs and kept current."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import msgspec
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "configuration.md"


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_config_docs", ROOT / "scripts" / "gen_config_docs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_checked_in_reference_is_current(generator: ModuleType) -> None:
    assert generator.main(["--check"]) == 0, "run: python scripts/gen_config_docs.py"


def test_check_mode_fails_on_a_stale_file(generator: ModuleType, tmp_path: Path) -> None:
    stale = tmp_path / "configuration.md"
    stale.write_text(DOC.read_text().replace("| `port` |", "| `prot` |"))
    assert generator.main(["--check", "--output", str(stale)]) == 1
    assert generator.main(["--output", str(stale)]) == 0
    assert generator.main(["--check", "--output", str(stale)]) == 0


def test_every_key_of_every_section_is_in_its_table(generator: ModuleType) -> None:
    text = generator.generate()
    for title, _, struct in generator.SECTIONS:
        section = text.split(f"## `{title}`\n", 1)[1].split("\n## ", 1)[0]
        keys = set(re.findall(r"^\| `(\w+)` \|", section, re.M))
        fields = {f.encode_name for f in msgspec.structs.fields(struct)} - generator.INTERNAL
        assert keys == fields, f"{title}: documented {sorted(keys)}, Struct has {sorted(fields)}"


def test_a_core_key_without_a_description_stops_the_generator(
    generator: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    descriptions = {k: v for k, v in generator.DESCRIPTIONS.items() if k != "server.host"}
    monkeypatch.setattr(generator, "DESCRIPTIONS", descriptions)
    with pytest.raises(SystemExit, match=r"server\.host has no description"):
        generator.generate()
