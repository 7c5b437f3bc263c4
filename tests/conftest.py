"""Shared fixtures: a stand-in Fooocus with the plugin, and an HTTP client for it."""
from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from fooocus_server import FooocusServer, start_server
from postgres_server import PostgresServer, PostgresUnavailable, start_postgres

HISTORY_BACKENDS = ("sqlite", "postgres")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FooocusServer]:
    """A stand-in Fooocus with `--api` whose steps take 20 ms each."""
    running = start_server(tmp_path_factory.mktemp("fooocus"),
                           env={"FOOOCUS_STANDIN_STEP_SECONDS": "0.02",
                                "FOOOCUS_STANDIN_STEPS": "4"})
    yield running
    running.stop()


@pytest.fixture
def client(server: FooocusServer) -> Iterator[httpx.Client]:
    with server.client() as http:
        yield http


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole run; skipped where there is none, except in CI."""
    try:
        import psycopg  # noqa: F401

        server = start_postgres()
    except (ImportError, PostgresUnavailable) as error:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"CI is set and PostgreSQL cannot be used: {error}", pytrace=False)
        pytest.skip(f"PostgreSQL cannot be used here: {error}")
    yield server
    server.stop()


@pytest.fixture(scope="module", params=HISTORY_BACKENDS)
def history_flags(request: pytest.FixtureRequest) -> list[str]:
    """The flags of a server keeping history in SQLite, or in a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return []
    database_url = request.getfixturevalue("postgres").new_database()
    return ["--api-database-url", database_url, "--api-node-name", "test-node"]
