from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import openai
import pytest

from helpers import ROOT, ServerProcess
from modelport.core.records import Location
from modelport.core.remote import RecordHost, RemoteStore


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


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL server for the session (the ``pgserver`` wheel's binaries, in a
    temporary data directory, reached by its socket); its admin URL."""
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pgdata"), cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture
def postgres_database(postgres: str) -> str:
    """A fresh, empty database on the session's PostgreSQL server; its URL."""
    import uuid

    import psycopg

    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return postgres.replace("/postgres?", f"/{name}?")


@pytest.fixture(params=["sqlite", "postgresql", "remote"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> Location:
    """Where a store test keeps its records: an SQLite file, a PostgreSQL database, and
    a store served by another process (on Ray; here a ``RecordHost`` in this one, behind
    a handle of Ray Serve's shape, everything crossing as bytes)."""
    if request.param == "sqlite":
        return tmp_path / "store.sqlite3"
    if request.param == "remote":
        host = RecordHost(tmp_path / "store.sqlite3")
        handle = SimpleNamespace(records=SimpleNamespace(remote=host.records))
        return RemoteStore(handle)
    return str(request.getfixturevalue("postgres_database"))
