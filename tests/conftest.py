from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from helpers import ROOT, ServerProcess


@pytest.fixture(scope="session")
def server() -> Iterator[ServerProcess]:
    """The real server with the repository's plugins.toml and the real default models."""
    with ServerProcess(ROOT / "plugins.toml") as proc:
        yield proc


@pytest.fixture(scope="session")
def client(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key="modelport", max_retries=0)


@pytest.fixture(scope="session")
def base_url(server: ServerProcess) -> str:
    return server.base_url
