"""What a node shares in Redis about the tasks it holds, read straight from Redis."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

from fooocus_server import wait_until
from redis_server import RedisServer, redis_server  # noqa: F401  (a fixture)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "extension"))
from fooocus_api.redis_link import RedisLink, state_key  # noqa: E402
from fooocus_api.task import Task  # noqa: E402
from fooocus_api.task_events import EventPublisher  # noqa: E402


def shared_record(server: RedisServer, task: Task) -> dict | None:
    state = server.client().hgetall(state_key(task.task_id))
    return json.loads(state["record"]) if state.get("record") else None


def test_a_running_task_shared_before_history_wrote_it_gets_its_row_id_when_history_does(
        redis_server: RedisServer):
    publisher = EventPublisher(RedisLink(redis_server.url()), "node-1", "http://127.0.0.1:9",
                               on_ended=lambda task: None)
    task = Task(fooocus_task=SimpleNamespace(yields=[]), source="ui")
    publisher.watch(task, announced=False)
    task.start()
    wait_until(lambda: (lambda record: record if record and record["task_status"] == "running"
                        else None)(shared_record(redis_server, task)))

    task.stored_as(7)

    after = wait_until(lambda: (lambda record: record if record["id"] == 7 else None)(
        shared_record(redis_server, task)), timeout=5)
    assert (after["task_status"], after["node"]) == ("running", "node-1")
