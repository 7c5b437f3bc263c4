"""Stop, skip and cancel for a task that another node holds, and removing its files.

Each node reads its own control stream (`fooocus_api:control:{node}`). A node
asked to act on a task held elsewhere adds a message there and waits (a few
seconds at most) for the answer on a reply list, so the client gets the same
200/404/409 as on a single node. The holding node applies the action with its
own TaskQueue, as if it had been asked directly. Result files stay on the node
that made them, so deleting history asks that node to remove them.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from .redis_link import RedisLink, control_key, reply_key
from .task import Task
from .task_queue import TaskConflict, TaskNotFound, TaskQueue

logger = logging.getLogger("fooocus_api")

ANSWER_TIMEOUT_SECONDS = 5
REPLY_TTL_SECONDS = 60
CONTROL_MAXLEN = 1000
ACTIONS = ("stop", "skip", "cancel")
DELETE_RESULTS = "delete_results"


class NodeUnresponsive(RuntimeError):
    """The node holding the task did not answer in time; becomes a 504."""


class NodeControl:
    def __init__(self, link: RedisLink, node: str, tasks: TaskQueue, record_of: Any,
                 delete_results: Callable[[list[str]], list[str]]) -> None:
        self._link = link
        self._node = node
        self._tasks = tasks
        self._record_of = record_of
        self._delete_results = delete_results

    def start(self) -> None:
        threading.Thread(target=self._listen, name="fooocus_api-control", daemon=True).start()

    # -- asking another node -------------------------------------------------------------------

    def ask(self, node: str, action: str, task_id: str) -> dict[str, Any]:
        """The record after `action`; raises TaskNotFound or TaskConflict as the node says."""
        reply = self._ask(node, {"action": action, "task_id": task_id},
                          f"node {node}, which holds task {task_id},")
        if reply["outcome"] == "not_found":
            raise TaskNotFound(task_id)
        if reply["outcome"] == "conflict":
            raise TaskConflict(reply["detail"])
        return reply["record"]

    def ask_to_delete(self, node: str, urls: list[str]) -> list[str]:
        """Have `node` remove the result files it holds among `urls`; the URLs removed."""
        reply = self._ask(node, {"action": DELETE_RESULTS, "urls": json.dumps(urls)},
                          f"node {node}, which holds {len(urls)} of the files,")
        return list(reply.get("removed") or [])

    def _ask(self, node: str, message: dict[str, str], who: str) -> dict[str, Any]:
        request_id = uuid.uuid4().hex

        def send_and_wait(redis: Any) -> Any:
            redis.xadd(control_key(node), {**message, "reply": request_id},
                       maxlen=CONTROL_MAXLEN, approximate=True)
            return redis.blpop([reply_key(request_id)], timeout=ANSWER_TIMEOUT_SECONDS)

        answer = self._link.now(send_and_wait)
        if answer is None:
            raise NodeUnresponsive(f"{who} did not answer within {ANSWER_TIMEOUT_SECONDS} s")
        return json.loads(answer[1])

    # -- answering -----------------------------------------------------------------------------

    def _listen(self) -> None:
        last_id = f"{int(time.time() * 1000)}-0"  # older messages were for a previous run
        while True:
            replies = self._link.retry(lambda redis: redis.xread(
                {control_key(self._node): last_id}, count=10, block=1000))
            for _, messages in replies or []:
                for message_id, fields in messages:
                    last_id = message_id
                    try:
                        self._answer(fields)
                    except Exception:  # one bad message must not stop the node answering
                        logger.exception("cluster: could not answer %s", fields)

    def _answer(self, message: dict[str, str]) -> None:
        action, task_id = message.get("action"), message.get("task_id", "")
        if action == DELETE_RESULTS:
            self._send(message, {"outcome": "done",
                                 "removed": self._delete_results(json.loads(message["urls"]))})
            return
        try:
            task = self._apply(action, task_id)
            reply = {"outcome": "done", "record": self._record_of(task)}
        except TaskNotFound:
            reply = {"outcome": "not_found"}
        except TaskConflict as conflict:
            reply = {"outcome": "conflict", "detail": str(conflict)}
        logger.info("cluster: %s of task %s asked by another node: %s", action, task_id,
                    reply["outcome"])
        self._send(message, reply)

    def _send(self, message: dict[str, str], reply: dict[str, Any]) -> None:
        def send(redis: Any) -> None:
            with redis.pipeline() as pipe:
                pipe.rpush(reply_key(message["reply"]), json.dumps(reply))
                pipe.expire(reply_key(message["reply"]), REPLY_TTL_SECONDS)
                pipe.execute()

        self._link.retry(send)

    def _apply(self, action: str | None, task_id: str) -> Task:
        if action == "cancel":
            return self._tasks.cancel(task_id)
        if action in ("stop", "skip"):
            return self._tasks.control(action, task_id)
        raise TaskConflict(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
