"""One generation as the API sees it: its status, progress, preview and results.

A task wraps the `AsyncTask` that Fooocus's worker runs. The worker reports
through the task's `yields`; `receive` turns each report into an `Update` and
wakes every reply that waits on this task. The reply modes (async, stream,
binary, sync) and `/tasks` are views over this one object.

Statuses:
  pending      waiting in Fooocus's queue
  running      taken by Fooocus's worker
  finished     ended with at least one image
  failed       the worker raised, or ended with no image without being stopped
  stopped      stopped by a user (Stop in the UI or the API); partial images are kept
  skipped      every image was skipped (Skip) and none was made
  canceled     removed from the queue before it started
  interrupted  pending or running when the process ended
"""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .preview import Preview
from .signal import Signal


class TaskStatus(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    STOPPED = "stopped"
    SKIPPED = "skipped"
    CANCELED = "canceled"
    INTERRUPTED = "interrupted"

    @property
    def is_final(self) -> bool:
        return self not in (TaskStatus.PENDING, TaskStatus.RUNNING)


@dataclass
class Update:
    """One worker report as clients see it."""

    progress: int
    message: str
    preview: Preview | None = None
    final: bool = False


@dataclass
class Outcome:
    """How the worker left the task, read when `finish` arrives."""

    results: list[Any]
    error: str | None = None


def now_mills() -> int:
    return int(time.time() * 1000)


def new_task_id() -> str:
    return uuid.uuid4().hex


@dataclass(eq=False)
class Task:
    fooocus_task: Any
    source: str = "api"
    params: dict[str, Any] = field(default_factory=dict)
    webhook_url: str = ""
    base_url: str = ""
    webhook: dict[str, Any] | None = None
    task_id: str = field(default_factory=new_task_id)
    row_id: int = -1
    status: TaskStatus = TaskStatus.PENDING
    progress: int = 0
    message: str = "Waiting for task to start ..."
    results: list[str] = field(default_factory=list)
    error: str | None = None
    in_queue_mills: int = field(default_factory=now_mills)
    start_mills: int | None = None
    finish_mills: int | None = None
    stop_requested: bool = False
    skip_requested: bool = False
    changed: Signal = field(default_factory=Signal)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._updates: list[Update] = []
        self._preview: Update | None = None

    def stored_as(self, row_id: int) -> None:
        """History has written the record as row `row_id` (on the history's thread)."""
        self.row_id = row_id
        self.changed.fire()  # a cluster shares the record, and now its id

    # -- written by the worker thread -------------------------------------------------

    def start(self) -> None:
        with self._lock:
            self.status = TaskStatus.RUNNING
            self.start_mills = now_mills()
        self.changed.fire()

    def report(self, progress: int, message: str, image: Any | None) -> None:
        update = Update(int(progress), str(message), Preview(image) if image is not None else None)
        if update.preview is not None and self.changed.awaited:
            # A stream is waiting: encoding here, before it wakes, spares it a hop
            # through a thread pool (a few ms a step, against seconds of sampling).
            update.preview.data_uri()
        with self._lock:
            if update.preview is not None:
                self._drop_previous_preview()
                self._preview = update
            self.progress = max(self.progress, update.progress)
            self.message = update.message
            self._updates.append(update)
        self.changed.fire()

    def _drop_previous_preview(self) -> None:
        # Only the newest preview is worth sending; older ones would cost memory.
        if self._preview is not None:
            self._preview.preview = None

    # -- final state -------------------------------------------------------------------

    def conclude(self, status: TaskStatus, results: list[str], error: str | None,
                 finish_mills: int | None = None) -> None:
        with self._lock:
            self.status = status
            self.results = results
            self.error = error
            self.finish_mills = finish_mills or now_mills()
            if status is TaskStatus.FINISHED:
                self.progress = 100
            self.message = final_message(status, error)
            self._drop_previous_preview()
            self._preview = None
            self._updates.append(Update(self.progress, self.message, final=True))
        self.changed.fire()

    # -- read by replies ---------------------------------------------------------------

    def updates_since(self, cursor: int) -> list[Update]:
        with self._lock:
            return self._updates[cursor:]

    @property
    def latest_preview(self) -> Preview | None:
        update = self._preview
        return update.preview if update is not None else None

    def final_record(self, status: TaskStatus, results: list[str],
                     error: str | None) -> dict[str, Any]:
        """The record as `conclude` will leave it, to be stored before clients see it."""
        record = self.record()
        record.update(task_status=status.value, result=list(results), error=error,
                      finish_mills=now_mills(),
                      progress=100 if status is TaskStatus.FINISHED else record["progress"])
        return record

    def record(self) -> dict[str, Any]:
        """The task as a history record; result paths are relative URL paths."""
        with self._lock:
            return {
                "id": self.row_id,
                "task_id": self.task_id,
                "req_params": self.params,
                "in_queue_mills": self.in_queue_mills,
                "start_mills": self.start_mills,
                "finish_mills": self.finish_mills,
                "task_status": self.status.value,
                "progress": self.progress,
                "webhook_url": self.webhook_url,
                "result": list(self.results),
                "error": self.error,
                "webhook": self.webhook,
                "source": self.source,
                "message": self.message,
            }


def final_message(status: TaskStatus, error: str | None) -> str:
    if status is TaskStatus.FINISHED:
        return "Finished"
    if error:
        return f"{status.value.capitalize()}: {error}"
    return status.value.capitalize()
