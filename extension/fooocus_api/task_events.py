"""What a node tells the cluster about the tasks on its worker, as they happen.

For every task of this node (from the cluster's queue or this node's UI) the
publisher keeps, in Redis:

- the task's state hash (`fooocus_api:task:{id}`): status, node, progress,
  message, the newest preview and the record, so any node answers `/tasks/{id}`;
- its events stream (`fooocus_api:events:{id}`): `start`, one `update` per
  worker report and `end` with the final record, in order, for the nodes that
  stream the task to their clients (see remote_task.py).

It runs on a thread of its own: the worker never waits on Redis and preview
JPEGs are encoded there, once. A preview superseded before it was sent is
dropped; nothing else is. While Redis is away the publisher waits and then
sends what it missed, in order. Both keys expire `ENDED_TTL_SECONDS` after the end.
"""
from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .records import public_record
from .redis_link import HELD, RedisLink, events_key, state_key
from .task import Task, TaskStatus, Update

logger = logging.getLogger("fooocus_api")

ENDED_TTL_SECONDS = 3600
EVENTS_MAXLEN = 2000

# The end of a task this node runs, unless the cluster gave the task up meanwhile (this
# node was cut off from Redis longer than the timeout, and another node ended or re-queued it).
# KEYS: state, running, events   ARGV: node, task id, record, status, progress, message, ttl
END_IF_MINE = """
local node = redis.call('HGET', KEYS[1], 'node')
local status = redis.call('HGET', KEYS[1], 'status')
if (node and node ~= ARGV[1]) or (status and status ~= 'pending' and status ~= 'running') then
  return 0
end
redis.call('HSET', KEYS[1], 'status', ARGV[4], 'record', ARGV[3], 'preview', '',
           'progress', ARGV[5], 'message', ARGV[6], 'entry', '', 'node', ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', '2000', '*', 'kind', 'end', 'record', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('EXPIRE', KEYS[3], ARGV[7])
return 1
"""


@dataclass
class Sent:
    cursor: int = 0
    announced: bool = False
    started: bool = False
    row_id: int = -1


class EventPublisher:
    def __init__(self, link: RedisLink, node: str, base_url: str,
                 on_ended: Callable[[Task], None]) -> None:
        self._link = link
        self._node = node
        self._base_url = base_url
        self._on_ended = on_ended
        self._dirty: queue.Queue[Task] = queue.Queue()
        self._sent: dict[str, Sent] = {}
        self._end_if_mine = link.script(END_IF_MINE)
        threading.Thread(target=self._loop, name="fooocus_api-events", daemon=True).start()

    def watch(self, task: Task, announced: bool) -> None:
        """Publish this task from now on (called when it enters this node's queue).

        `announced`: the task came from the cluster's queue, which made its state hash.
        """
        self._sent[task.task_id] = Sent(announced=announced)
        task.changed.subscribe(lambda: self._dirty.put(task))
        self._dirty.put(task)

    def record_of(self, task: Task) -> dict[str, Any]:
        return cluster_record(task.record(), self._base_url, self._node)

    def _loop(self) -> None:
        while True:
            task = self._dirty.get()
            try:
                self._publish(task)
            except Exception:
                logger.exception("cluster: publishing task %s failed", task.task_id)

    def _publish(self, task: Task) -> None:
        sent = self._sent.get(task.task_id)
        if sent is None:
            return  # ended and published already
        updates = task.updates_since(sent.cursor)
        status = task.status
        row_id = task.row_id
        commands: list[Callable[[Any], None]] = []
        if not sent.announced:
            commands.append(self._announce(task))
        # Decided once, from what was read here: the worker may start the task meanwhile,
        # and then its own change signal brings it back here.
        starting = (status is not TaskStatus.PENDING and task.start_mills is not None
                    and not sent.started)
        if starting:
            commands.append(self._start(task))
        elif sent.announced and row_id != sent.row_id:
            commands.append(self._row_id(task))  # the record was shared before its insert
        commands += self._updates(task, updates)

        def send(redis: Any) -> list[Any]:
            with redis.pipeline(transaction=False) as pipe:
                for command in commands:
                    command(pipe)
                return pipe.execute()

        answers = self._link.retry(send) if commands else []
        sent.announced = True
        sent.started = sent.started or starting
        sent.row_id = row_id
        sent.cursor += len(updates)
        if updates and updates[-1].final:
            self._sent.pop(task.task_id, None)
            if answers and answers[-1] == 0:
                logger.warning("task %s ended here after the cluster had given it up (this node "
                               "was cut off from Redis too long); the cluster's end stands",
                               task.task_id)
            self._on_ended(task)

    def _announce(self, task: Task) -> Callable[[Any], None]:
        record = self.record_of(task)
        # Never an end here: the end is sent with its event, once the final update is read.
        status = TaskStatus.RUNNING if task.start_mills is not None else TaskStatus.PENDING

        def announce(pipe: Any) -> None:
            pipe.hset(state_key(task.task_id), mapping={
                "status": status.value, "node": self._node, "record": json.dumps(record),
                "message": record["message"], "progress": record["progress"]})
            pipe.sadd(HELD, task.task_id)

        return announce

    def _start(self, task: Task) -> Callable[[Any], None]:
        record = self.record_of(task)
        record["task_status"] = TaskStatus.RUNNING.value

        def start(pipe: Any) -> None:
            pipe.hset(state_key(task.task_id), mapping={
                "status": TaskStatus.RUNNING.value, "node": self._node,
                "record": json.dumps(record)})
            pipe.sadd(HELD, task.task_id)
            pipe.xadd(events_key(task.task_id), {"kind": "start", "record": json.dumps(record)},
                      maxlen=EVENTS_MAXLEN, approximate=True)

        return start

    def _row_id(self, task: Task) -> Callable[[Any], None]:
        record = self.record_of(task)
        if task.start_mills is not None:
            record["task_status"] = TaskStatus.RUNNING.value

        def patch(pipe: Any) -> None:
            pipe.hset(state_key(task.task_id), "record", json.dumps(record))

        return patch

    def _updates(self, task: Task, updates: list[Update]) -> list[Callable[[Any], None]]:
        newest_preview = max((n for n, u in enumerate(updates) if u.preview is not None),
                             default=-1)
        commands = []
        for number, update in enumerate(updates):
            if update.final:
                commands.append(self._end(task))
                break
            preview = (update.preview.data_uri() or "") if number == newest_preview else ""
            commands.append(_update_command(task.task_id, update, preview))
        return commands

    def _end(self, task: Task) -> Callable[[Any], None]:
        record = self.record_of(task)
        arguments = [self._node, task.task_id, json.dumps(record), record["task_status"],
                     record["progress"], record["message"], ENDED_TTL_SECONDS]
        keys = [state_key(task.task_id), HELD, events_key(task.task_id)]
        return lambda pipe: self._end_if_mine(keys=keys, args=arguments, client=pipe)


def _update_command(task_id: str, update: Update, preview: str) -> Callable[[Any], None]:
    def send(pipe: Any) -> None:
        fields = {"progress": update.progress, "message": update.message}
        state = {**fields, "preview": preview} if preview else fields
        pipe.hset(state_key(task_id), mapping=state)
        pipe.xadd(events_key(task_id), {"kind": "update", **fields, "preview": preview},
                  maxlen=EVENTS_MAXLEN, approximate=True)

    return send


def publish_end(pipe: Any, record: dict[str, Any]) -> None:
    """The end of a task, for every node: state, event, and the keys' expiry."""
    task_id = record["task_id"]
    pipe.hset(state_key(task_id), mapping={
        "status": record["task_status"], "record": json.dumps(record), "preview": "",
        "progress": record["progress"], "message": record["message"], "entry": ""})
    pipe.srem(HELD, task_id)
    pipe.xadd(events_key(task_id), {"kind": "end", "record": json.dumps(record)},
              maxlen=EVENTS_MAXLEN, approximate=True)
    pipe.expire(state_key(task_id), ENDED_TTL_SECONDS)
    pipe.expire(events_key(task_id), ENDED_TTL_SECONDS)


def cluster_record(record: dict[str, Any], base_url: str, node: str) -> dict[str, Any]:
    """A record as the cluster shares it: URLs point at the node that holds the files."""
    shared = public_record(record, base_url)
    shared["node"] = node
    return shared
