"""A task that runs on another node, followed through its events stream.

`RemoteTask` offers what replies.py reads from a local `Task` (status, updates,
preview, record, change signal), so every reply mode works the same for a task
wherever it runs. `TaskFollower` keeps one follower thread per followed task:
it reads the task's events stream from the start, then blocks for more, and
stops at the `end` event.
"""
from __future__ import annotations

import json
import logging
import threading
from types import SimpleNamespace
from typing import Any

from .preview import Preview
from .redis_link import RedisLink, events_key, state_key
from .signal import Signal
from .task import TaskStatus, Update

logger = logging.getLogger("fooocus_api")

BLOCK_MILLS = 1000
BATCH = 100


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


class TaskFollower:
    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._lock = threading.Lock()
        self._followed: dict[str, RemoteTask] = {}

    def follow(self, task_id: str) -> RemoteTask | None:
        """The task as its events tell it; None when the cluster does not know it."""
        with self._lock:
            remote = self._followed.get(task_id)
        if remote is not None:
            return remote

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
                return followed  # another request started following it meanwhile
            self._followed[task_id] = remote
        threading.Thread(target=self._read_events, args=(remote,), daemon=True,
                         name=f"fooocus_api-follow-{task_id[:8]}").start()
        return remote

    def _read_events(self, remote: RemoteTask) -> None:
        last_id = "0"
        try:
            while not remote.status.is_final:
                last_id, read = self._read(remote, last_id, BLOCK_MILLS)
                if not read:
                    last_id = self._check_ended(remote, last_id)
        except Exception:
            logger.exception("cluster: following task %s failed", remote.task_id)
        finally:
            with self._lock:
                self._followed.pop(remote.task_id, None)

    def _read(self, remote: RemoteTask, last_id: str, block: int | None) -> tuple[str, int]:
        replies = self._link.retry(lambda redis: redis.xread(
            {events_key(remote.task_id): last_id}, count=BATCH, block=block))
        read = 0
        for _, events in replies or []:
            for event_id, fields in events:
                remote.apply(fields)
                last_id = event_id
                read += 1
        return last_id, read

    def _check_ended(self, remote: RemoteTask, last_id: str) -> str:
        """An end whose event is gone (expired, or trimmed away) still ends the task."""
        state = self._link.retry(lambda redis: redis.hgetall(state_key(remote.task_id)))
        if not state.get("record") or not state.get("status"):
            remote.end_with({**remote.record(), "task_status": TaskStatus.INTERRUPTED.value,
                             "message": "Interrupted: the cluster lost this task's state"})
        elif TaskStatus(state["status"]).is_final:
            last_id, _ = self._read(remote, last_id, None)
            remote.end_with(json.loads(state["record"]))
        return last_id
