"""Run the real plugin inside a stand-in Fooocus, over real HTTP.

Each server is the stand-in Fooocus checkout (tests/standin/fooocus) copied to
a temporary folder, with the plugin copied to `extensions/fooocus_api` as
install.py would, started by `launch_api.py` on a free 127.0.0.1 port.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import install  # noqa: E402  (the repository root holds install.py)

REPOSITORY = Path(__file__).resolve().parents[1]
STANDIN = REPOSITORY / "tests" / "standin" / "fooocus"
START_TIMEOUT_SECONDS = 90
GENERATE = "/v1/engine/generate/"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def standin_checkout(folder: Path) -> Path:
    """A stand-in Fooocus checkout with the plugin installed in it."""
    checkout = folder / "Fooocus"
    shutil.copytree(STANDIN, checkout, ignore=shutil.ignore_patterns("__pycache__", "outputs"))
    install.install_package(install.PluginRepo.at(REPOSITORY),
                            checkout / "extensions" / "fooocus_api")
    return checkout


@dataclass
class FooocusServer:
    checkout: Path
    port: int
    flags: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        path = self.checkout / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def command(self) -> list[str]:
        return [sys.executable, str(REPOSITORY / "launch_api.py"),
                "--fooocus-dir", str(self.checkout),
                "--listen", "127.0.0.1", "--port", str(self.port), *self.flags]

    def start(self, ready_path: str = "/tasks", headers: dict[str, str] | None = None) -> None:
        command = self.command()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        env.pop("FOOOCUS_DIR", None)
        log = open(self.checkout / "server.log", "ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                        cwd=self.checkout)
        self._wait_ready(ready_path, headers or {})

    def _wait_ready(self, path: str, headers: dict[str, str]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log}")
            try:
                if httpx.get(self.url + path, headers=headers, timeout=2).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server did not answer within {START_TIMEOUT_SECONDS} s:\n{self.log}")

    def kill(self) -> None:
        """Like a crash: SIGKILL, no chance to clean up."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)


def start_server(folder: Path, flags: list[str] | None = None,
                 env: dict[str, str] | None = None, **start: object) -> FooocusServer:
    server = FooocusServer(standin_checkout(folder), free_port(), flags or [], env or {})
    server.start(**start)
    return server


def wait_for_end(client: httpx.Client, task_id: str, timeout: float = 30) -> dict:
    """Poll a task until it leaves pending/running; its final record."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = client.get(f"/tasks/{task_id}").json()
        if record["task_status"] not in ("pending", "running"):
            return record
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not end within {timeout} s")


def wait_until(condition, timeout: float = 20.0):
    """Poll `condition` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def empty_the_queue(client: httpx.Client) -> None:
    """Cancel what waits and stop what runs (on any node), so the next test starts idle."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listing = client.get("/tasks", params={"query": "all", "page_size": 100}).json()
        if not listing["current"] and not listing["pending"]:
            return
        for task in listing["pending"]:
            client.delete(f"/tasks/{task['task_id']}")
        for task in listing["current"]:
            client.post("/v1/engine/control", json={"action": "stop", "task_id": task["task_id"]})
        time.sleep(0.05)
    raise AssertionError("the queue did not empty")


def stop_process(process: subprocess.Popen) -> None:
    """Terminate a server process, killing it if it has not gone within 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
