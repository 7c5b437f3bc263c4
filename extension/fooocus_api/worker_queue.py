"""Taps on Fooocus's worker: its queue list and each task's `yields` list.

Fooocus's worker thread polls `modules.async_worker.async_tasks` every 10 ms
and appends its reports to `task.yields`; the Gradio UI appends to the same
queue and pops the same `yields`. Replacing both lists with the subclasses below
lets the API see every enqueue, every start and every report the moment it
happens, for API and UI tasks alike, without changing what Fooocus sees.
"""
from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

OnEnqueue = Callable[[Any], None]
OnStart = Callable[[Any], None]


class WorkerQueue(list):
    """Stands in for `modules.async_worker.async_tasks`."""

    def __init__(self, items: list[Any], on_enqueue: OnEnqueue, on_start: OnStart,
                 before_start: Callable[[], None] = lambda: None) -> None:
        super().__init__(items)
        self._on_enqueue = on_enqueue
        self._on_start = on_start
        self._before_start = before_start
        self._ready = threading.Condition()

    def append(self, fooocus_task: Any) -> None:
        self._on_enqueue(fooocus_task)
        with self._ready:
            super().append(fooocus_task)
            self._ready.notify_all()

    def pop(self, index: int = -1) -> Any:
        # The worker checks len() and then pops. A cancel may empty the queue in
        # between; waiting here instead of raising keeps the worker thread alive.
        self._before_start()
        with self._ready:
            while not super().__len__():
                self._ready.wait()
            fooocus_task = super().pop(index)
        self._on_start(fooocus_task)
        return fooocus_task

    def withdraw(self, fooocus_task: Any) -> bool:
        """Take a task out of the queue; False when the worker already took it."""
        with self._ready:
            for position, queued in enumerate(self):
                if queued is fooocus_task:
                    del self[position]
                    return True
        return False

    def snapshot(self) -> list[Any]:
        with self._ready:
            return list(self)


class YieldTap(list):
    """Stands in for an `AsyncTask.yields` list and forwards each report.

    `keep=False` is for API tasks: nobody pops their `yields`, so the reports
    (and their preview images) are not kept once forwarded. UI tasks keep them,
    because the UI pops them.
    """

    def __init__(self, items: list[Any], on_report: Callable[[str, Any, BaseException | None], None],
                 keep: bool) -> None:
        super().__init__(items if keep else [])
        self._on_report = on_report
        self._keep = keep

    def append(self, item: Any) -> None:
        flag, product = item
        # Fooocus's worker appends 'finish' from inside its `except:` when the
        # task raised; the exception being handled is how a failure is told apart.
        error = sys.exc_info()[1] if flag == "finish" else None
        self._on_report(flag, product, error)
        if self._keep:
            super().append(item)
