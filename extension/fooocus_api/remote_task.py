"""A task that runs on another node, followed through its events stream.

`RemoteTask` offers what replies.py reads from a local `Task` (status, updates,
preview, record, change signal), so every reply mode works the same for a task
wherever it runs. `TaskFollower` reads the events streams of every followed
task with one thread and one blocking XREAD over all of them (each from the
start), and lets a task go at its `end` event. Following a new task wakes that
read through a stream of the follower's own, so its first events are not late.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from .preview import Preview
from .redis_link import PREFIX, RedisLink, events_key, state_key
from .signal import Signal
from .task import TaskStatus, Update

logger = logging.getLogger("fooocus_api")

BLOCK_MILLS = 1000
BATCH = 100
QUIET_SECONDS = 1.0  # a followed task with no event for this long gets its state read
WAKE_TTL_SECONDS = 3600


class RemoteTask:
    def __init__(self, task_id: str, record: dict[str, Any]) -> None:
        self.task_id = task_id
        self.changed = Signal()
        self._lock = threading.Lock()
        self._record = record
        self._updates: list[Update] = []
        self._preview: Update | None = None
        params = record.get("req_params") or {}
        self.fooocus_task = SimpleNamespace(output_format=params.get("output_format") or "png")

    @property
    def status(self) -> TaskStatus:
        return TaskStatus(self._record["task_status"])

    @property
    def results(self) -> list[str]:
        return list(self._record.get("result") or [])

    @property
    def message(self) -> str:
        return self._record.get("message") or ""

    # -- written by the follower thread -----------------------------------------------------

    def apply(self, event: dict[str, str]) -> None:
        kind = event.get("kind")
        with self._lock:
            if kind == "start":
                self._record = {**json.loads(event["record"]), "progress": self._progress()}
            elif kind == "update":
                self._add_update(event)
            elif kind == "end":
                self._end(json.loads(event["record"]))
        self.changed.fire()

    def end_with(self, record: dict[str, Any]) -> None:
        """The end as the state hash tells it (the events stream had expired)."""
        with self._lock:
            if not self.status.is_final:
                self._end(record)
        self.changed.fire()

    def _add_update(self, event: dict[str, str]) -> None:
        preview = Preview.from_data_uri(event["preview"]) if event.get("preview") else None
        update = Update(int(event["progress"]), event["message"], preview)
        if preview is not None:
            if self._preview is not None:
                self._preview.preview = None
            self._preview = update
        self._record = {**self._record, "progress": max(self._progress(), update.progress),
                        "message": update.message}
        self._updates.append(update)

    def _end(self, record: dict[str, Any]) -> None:
        if self._preview is not None:
            self._preview.preview = None
        self._preview = None
        self._record = record
        self._updates.append(Update(record["progress"], record["message"], final=True))

    def _progress(self) -> int:
        return int(self._record.get("progress") or 0)

    # -- read by replies ---------------------------------------------------------------------

    def updates_since(self, cursor: int) -> list[Update]:
        with self._lock:
            return self._updates[cursor:]

    @property
    def latest_preview(self) -> Preview | None:
        update = self._preview
        return update.preview if update is not None else None

    def record(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._record)


@dataclass
class _Followed:
    remote: RemoteTask
    last_id: str = "0"
    heard: float = field(default_factory=time.monotonic)


class TaskFollower:
    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._lock = threading.Lock()
        self._followed: dict[str, _Followed] = {}
        self._wake_key = f"{PREFIX}:follower-wake:{uuid.uuid4().hex}"
        self._wake_id = "0"
        self._reader: threading.Thread | None = None

    def follow(self, task_id: str) -> RemoteTask | None:
        """The task as its events tell it; None when the cluster does not know it."""
        with self._lock:
            followed = self._followed.get(task_id)
        if followed is not None:
            return followed.remote

        state = self._link.now(lambda redis: redis.hgetall(state_key(task_id)))
        if not state or not state.get("record"):
            return None
        record = json.loads(state["record"])
        remote = RemoteTask(task_id, {**record, "task_status": state["status"]})
        if remote.status.is_final:
            remote.end_with(record)  # a reply reads the end as its final update
            return remote

        with self._lock:
            followed = self._followed.get(task_id)
            if followed is not None:
                return followed.remote  # another request started following it meanwhile
            self._followed[task_id] = _Followed(remote)
            self._start_reader()
        self._link.now(self._wake)
        return remote

    def _wake(self, redis: Any) -> None:
        with redis.pipeline(transaction=False) as pipe:
            pipe.xadd(self._wake_key, {"wake": "1"}, maxlen=10, approximate=False)
            pipe.expire(self._wake_key, WAKE_TTL_SECONDS)
            pipe.execute()

    def _start_reader(self) -> None:
        if self._reader is None:
            self._reader = threading.Thread(target=self._read_loop, daemon=True,
                                            name="fooocus_api-follower")
            self._reader.start()

    def _read_loop(self) -> None:
        while True:
            try:
                self._read_once()
                for followed in self._quiet():
                    self._check_ended(followed)
            except Exception:
                logger.exception("cluster: following tasks failed; trying again")
                time.sleep(1)

    def _read_once(self) -> None:
        with self._lock:
            streams = {events_key(task_id): followed.last_id
                       for task_id, followed in self._followed.items()}
        streams[self._wake_key] = self._wake_id
        replies = self._link.retry(lambda redis: redis.xread(streams, count=BATCH,
                                                             block=BLOCK_MILLS))
        for key, events in replies or []:
            if key == self._wake_key:
                self._wake_id = events[-1][0]
                continue
            self._apply(key.removeprefix(events_key("")), events)

    def _apply(self, task_id: str, events: list[tuple[str, dict[str, str]]]) -> None:
        with self._lock:
            followed = self._followed.get(task_id)
        if followed is None:
            return
        for event_id, fields in events:
            followed.remote.apply(fields)
            followed.last_id = event_id
        followed.heard = time.monotonic()
        if followed.remote.status.is_final:
            self._let_go(task_id)

    def _quiet(self) -> list[_Followed]:
        now = time.monotonic()
        with self._lock:
            return [followed for followed in self._followed.values()
                    if now - followed.heard >= QUIET_SECONDS]

    def _check_ended(self, followed: _Followed) -> None:
        """An end whose event is gone (expired, or trimmed away) still ends the task."""
        remote = followed.remote
        followed.heard = time.monotonic()
        state = self._link.retry(lambda redis: redis.hgetall(state_key(remote.task_id)))
        if not state.get("record") or not state.get("status"):
            remote.end_with({**remote.record(), "task_status": TaskStatus.INTERRUPTED.value,
                             "message": "Interrupted: the cluster lost this task's state"})
        elif TaskStatus(state["status"]).is_final:
            key = events_key(remote.task_id)
            replies = self._link.retry(lambda redis: redis.xread({key: followed.last_id},
                                                                 count=BATCH))
            for _, events in replies or []:
                self._apply(remote.task_id, events)
            remote.end_with(json.loads(state["record"]))
        if remote.status.is_final:
            self._let_go(remote.task_id)

    def _let_go(self, task_id: str) -> None:
        with self._lock:
            self._followed.pop(task_id, None)
