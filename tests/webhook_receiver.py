"""A webhook receiver of the tests' own, on 127.0.0.1: records every POST by path."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PLUGIN_TIMEOUT_SECONDS = 10
SLOW_ANSWER_SECONDS = PLUGIN_TIMEOUT_SECONDS + 1


def settled(condition: Callable[[], Any], timeout: float = 20) -> Any:
    """Poll `condition` until it is truthy or `timeout` passes; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    return condition()


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float

    @property
    def record(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every POST by path; answers 200 unless told otherwise for a path.

    An answer is an HTTP status, or "slow": wait past the plugin's timeout, then 200.
    """

    deliveries: list[Delivery] = field(default_factory=list)
    answers: dict[str, list[int | str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.http.daemon_threads = True
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http.server_port}{path}"

    def answer(self, path: str, *answers: int | str) -> None:
        with self.lock:
            self.answers[path] = list(answers)

    def take(self, path: str, delivery: Delivery) -> int | str:
        with self.lock:
            self.deliveries.append(delivery)
            planned = self.answers.get(path) or []
            return planned.pop(0) if planned else 200

    def received(self, path: str, task_id: str | None = None) -> list[Delivery]:
        with self.lock:
            found = [delivery for delivery in self.deliveries if delivery.path == path]
        if task_id is not None:
            found = [delivery for delivery in found if delivery.record.get("task_id") == task_id]
        return found

    def wait_for(self, path: str, count: int = 1, task_id: str | None = None,
                 timeout: float = 20) -> list[Delivery]:
        found = settled(lambda: len(self.received(path, task_id)) >= count and
                           self.received(path, task_id), timeout)
        assert found, f"{count} delivery(ies) to {path} within {timeout} s; got " \
                      f"{len(self.received(path, task_id))}"
        return found

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            delivery = Delivery(self.path, dict(self.headers.items()), body, time.time())
            answer = receiver.take(self.path, delivery)
            if answer == "slow":
                time.sleep(SLOW_ANSWER_SECONDS)
                answer = 200
            try:
                self.send_response(int(answer))
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the plugin gave up waiting, as it should

        def log_message(self, *args: Any) -> None:
            pass

    return Handler
