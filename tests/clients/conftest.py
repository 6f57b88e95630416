"""The client suite: each file drives the real server (the repository's plugins.toml,
the real default models) through one popular client library, the way that library's
docs show. The tests judge protocol behaviour, not the 135M model's wisdom: tokens are
bounded, a tool call is forced where one is wanted, answers are checked against their
schema."""

from __future__ import annotations

import pytest

from helpers import ServerProcess


@pytest.fixture(scope="session")
def api_base(server: ServerProcess) -> str:
    return server.base_url + "/v1"
