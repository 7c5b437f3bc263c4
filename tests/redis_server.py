"""A real redis-server for the cluster tests: 127.0.0.1, a free port, no persistence.

Started from the distribution's `redis-server` (tests/run.sh installs it when it
can). Without it the cluster tests are skipped, except in CI (CI=true), where
that is a failure.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from fooocus_server import free_port, stop_process

START_TIMEOUT_SECONDS = 15


@dataclass
class RedisServer:
    process: subprocess.Popen[bytes]
    port: int
    folder: Path

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis.from_url(self.url(db), decode_responses=True)

    def stop(self) -> None:
        stop_process(self.process)


def start_redis(folder: Path, port: int | None = None) -> RedisServer:
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed (apt-get install -y redis-server)"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(message)
        pytest.skip(message)

    port = port or free_port()
    log = open(folder / "redis.log", "ab")
    process = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port),
                                "--save", "", "--appendonly", "no", "--dir", str(folder)],
                               stdout=log, stderr=subprocess.STDOUT)
    server = RedisServer(process, port, folder)
    _wait_ready(server)
    return server


def _wait_ready(server: RedisServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"redis-server exited: {(server.folder / 'redis.log').read_text()}")
        try:
            if server.client().ping():
                return
        except redis.ConnectionError:
            time.sleep(0.05)
    server.stop()
    pytest.fail(f"redis-server did not answer within {START_TIMEOUT_SECONDS} s")


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()
