"""Shared fixtures: a stand-in Fooocus with the plugin, and an HTTP client for it."""
from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from fooocus_server import FooocusServer, start_server


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
