"""The life of every task on Fooocus's one worker: queued, running, ended.

`TaskQueue` owns the transitions. It puts API tasks into Fooocus's own queue,
adopts the tasks the Gradio UI puts there, marks a task running when the worker
takes it, and settles its outcome when the worker says `finish`. Settling (saving
array results, writing history, logging) runs on a thread of its own so the
worker can take the next task at once.
"""
from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .engine import Engine
from .files import FileRoots
from .history import HistoryStore
from .task import Outcome, Task, TaskStatus
from .worker_queue import WorkerQueue, YieldTap

logger = logging.getLogger("fooocus_api")

RECENT_TASKS_KEPT = 64
HISTORY_WAIT_SECONDS = 30.0

OnEnded = Callable[[Task], None]
OnQueued = Callable[[Task], None]


class TaskNotFound(LookupError):
    pass


class TaskConflict(RuntimeError):
    """The task exists but is in no state for the action asked."""


class TaskQueue:
    def __init__(self, engine: Engine, history: HistoryStore, files: FileRoots,
                 default_webhook_url: str = "") -> None:
        self._engine = engine
        self._default_webhook_url = default_webhook_url
        self._history = history
        self._files = files
        self._lock = threading.Lock()
        self._live: dict[str, Task] = {}
        self._by_fooocus_task: dict[int, Task] = {}
        self._recent: OrderedDict[str, Task] = OrderedDict()
        self._running: Task | None = None
        self._worker_busy = False
        self._tool_running = False
        self._turns = threading.Condition(self._lock)
        self._worker_queue: WorkerQueue | None = None
        self._ended_listeners: list[OnEnded] = []
        self._queued_listeners: list[OnQueued] = []
        self._settling: queue.Queue[tuple[Task, Outcome]] = queue.Queue()
        threading.Thread(target=self._settle_loop, name="fooocus_api-settle", daemon=True).start()

    def attach(self, worker_module: ModuleType) -> None:
        """Replace Fooocus's queue list with one that reports to this queue."""
        self._worker_queue = WorkerQueue(list(worker_module.async_tasks), self._adopt, self._start,
                                         before_start=self._take_turn_for_worker)
        worker_module.async_tasks = self._worker_queue

    def on_ended(self, listener: OnEnded) -> None:
        self._ended_listeners.append(listener)

    def on_queued(self, listener: OnQueued) -> None:
        self._queued_listeners.append(listener)

    @property
    def attached(self) -> bool:
        return self._worker_queue is not None

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing runs or waits on this process's worker (UI tasks included)."""
        with self._turns:
            self._turns.wait_for(lambda: self._is_idle(), timeout)
            return self._is_idle()

    def _is_idle(self) -> bool:
        queued = self._worker_queue.snapshot() if self._worker_queue is not None else []
        return (self._running is None and not self._worker_busy and not self._tool_running
                and not self._live and not queued)

    # -- entering the queue ---------------------------------------------------------------

    def submit(self, task: Task) -> Task:
        self._register(task, keep_reports=False)
        self._require_worker().append(task.fooocus_task)
        logger.info("task %s queued (api)", task.task_id)
        return task

    def _adopt(self, fooocus_task: Any) -> None:
        """Called for every task put in Fooocus's queue; tasks from the UI are new here."""
        with self._lock:
            if id(fooocus_task) in self._by_fooocus_task:
                return
        task = Task(fooocus_task=fooocus_task, source="ui", params=ui_params(fooocus_task),
                    webhook_url=self._default_webhook_url)
        self._register(task, keep_reports=True)
        logger.info("task %s queued (ui)", task.task_id)

    def _register(self, task: Task, keep_reports: bool) -> None:
        fooocus_task = task.fooocus_task
        fooocus_task.yields = YieldTap(list(fooocus_task.yields), self._reporter(task),
                                       keep=keep_reports)
        with self._lock:
            self._live[task.task_id] = task
            self._by_fooocus_task[id(fooocus_task)] = task
        self._history.add(task.record(), on_row_id=task.stored_as)
        for listener in self._queued_listeners:
            listener(task)

    # -- running ----------------------------------------------------------------------------

    def _start(self, fooocus_task: Any) -> None:
        task = self._task_of(fooocus_task)
        if task is None:
            return
        # A Stop pressed just after the previous task ended would otherwise hit this one.
        self._engine.clear_interrupt()
        with self._lock:
            self._running = task
        task.start()
        logger.info("task %s running (%s, waited %.1f s)", task.task_id, task.source,
                    (task.start_mills - task.in_queue_mills) / 1000)

    def _reporter(self, task: Task) -> Callable[[str, Any, BaseException | None], None]:
        def report(flag: str, product: Any, error: BaseException | None) -> None:
            if flag == "preview":
                progress, message, image = product
                task.report(progress, message, image)
            elif flag == "finish":
                self._settling.put((task, Outcome(list(product or []), _describe(error))))

        return report

    # -- ending ------------------------------------------------------------------------------

    def _settle_loop(self) -> None:
        while True:
            task, outcome = self._settling.get()
            try:
                self._settle(task, outcome)
            except Exception:
                logger.exception("task %s: settling its outcome failed", task.task_id)
                self._end(task, TaskStatus.FAILED, [], "the API could not record the result")

    def _settle(self, task: Task, outcome: Outcome) -> None:
        results = [self._result_url_path(item, task) for item in outcome.results]
        results = [path for path in results if path]
        status, error = _status_of(task, results, outcome.error)
        self._end(task, status, results, error)

    def _result_url_path(self, item: Any, task: Task) -> str | None:
        if isinstance(item, str):
            return self._files.result_url_path(item)
        if hasattr(item, "shape"):
            return self._files.save_result_array(item, getattr(task.fooocus_task, "output_format", "png"))
        return None

    def _end(self, task: Task, status: TaskStatus, results: list[str], error: str | None) -> None:
        with self._lock:
            if self._running is task:
                self._running = None
                self._worker_busy = False
                self._turns.notify_all()
            self._live.pop(task.task_id, None)
            self._by_fooocus_task.pop(id(task.fooocus_task), None)
            self._recent[task.task_id] = task
            while len(self._recent) > RECENT_TASKS_KEPT:
                self._recent.popitem(last=False)

        # Stored before any client hears of the end, so a crash can never turn a result
        # that a client already saw into 'interrupted'.
        final = task.final_record(status, results, error)
        if not self._history.save(final).wait(HISTORY_WAIT_SECONDS):
            logger.warning("task %s: history write is slow; replying anyway", task.task_id)
        task.conclude(status, results, error, final["finish_mills"])
        _log_end(task)
        for listener in self._ended_listeners:
            listener(task)

    # -- queue control -----------------------------------------------------------------------

    def cancel(self, task_id: str) -> Task:
        task = self.get(task_id)
        if task is None:
            raise TaskNotFound(task_id)
        if task.status is not TaskStatus.PENDING:
            raise TaskConflict(f"task {task_id} is {task.status.value}; only a pending task "
                               "can be canceled (use /v1/engine/control to stop a running one)")
        if not self._require_worker().withdraw(task.fooocus_task):
            raise TaskConflict(f"task {task_id} has just started; stop it instead")

        self._end(task, TaskStatus.CANCELED, [], None)
        if task.source == "ui":
            # The UI waits for 'finish' on this task; without it, it would wait forever.
            list.append(task.fooocus_task.yields, ["finish", []])
        return task

    def control(self, action: str, task_id: str | None = None) -> Task:
        """Stop or skip the running task, as the UI's Stop and Skip buttons do."""
        with self._lock:
            task = self._running
        if task is None:
            raise TaskConflict("no task is running")
        if task_id is not None and task.task_id != task_id:
            raise TaskConflict(f"task {task_id} is not the running task ({task.task_id} is)")

        if action == "stop":
            task.stop_requested = True
        else:
            task.skip_requested = True
        task.fooocus_task.last_stop = action
        if getattr(task.fooocus_task, "processing", False):
            self._engine.interrupt()
        logger.info("task %s: %s requested", task.task_id, action)
        return task

    def forget(self, task_ids: list[str]) -> None:
        """Drop ended tasks from memory (their history records were deleted)."""
        with self._lock:
            for task_id in task_ids:
                self._recent.pop(task_id, None)

    # -- tools --------------------------------------------------------------------------------

    def run_exclusive(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run a tool while no generation runs; the next task waits until it is done."""
        with self._turns:
            self._turns.wait_for(lambda: not self._worker_busy and not self._tool_running)
            self._tool_running = True
        try:
            return function(*args)
        finally:
            with self._turns:
                self._tool_running = False
                self._turns.notify_all()

    def _take_turn_for_worker(self) -> None:
        with self._turns:
            self._turns.wait_for(lambda: not self._tool_running)
            self._worker_busy = True

    # -- reading -------------------------------------------------------------------------------

    def get(self, task_id: str) -> Task | None:
        with self._lock:
            return self._live.get(task_id) or self._recent.get(task_id)

    def current(self) -> Task | None:
        with self._lock:
            return self._running

    def pending(self) -> list[Task]:
        """Tasks waiting in Fooocus's queue, in the order the worker will take them."""
        queued = self._worker_queue.snapshot() if self._worker_queue is not None else []
        with self._lock:
            tasks = [self._by_fooocus_task.get(id(item)) for item in queued]
        return [task for task in tasks if task is not None]

    def position(self, task: Task) -> int | None:
        """1 for the next task to run; None when the task is not waiting."""
        for number, pending in enumerate(self.pending(), start=1):
            if pending is task:
                return number
        return None

    def _task_of(self, fooocus_task: Any) -> Task | None:
        with self._lock:
            return self._by_fooocus_task.get(id(fooocus_task))

    def _require_worker(self) -> WorkerQueue:
        if self._worker_queue is None:
            raise RuntimeError("Fooocus's worker is not attached")
        return self._worker_queue


def _status_of(task: Task, results: list[str], error: str | None) -> tuple[TaskStatus, str | None]:
    if error is not None:
        return TaskStatus.FAILED, error
    if task.stop_requested:
        return TaskStatus.STOPPED, None
    if not results:
        if task.skip_requested:
            return TaskStatus.SKIPPED, None
        return TaskStatus.FAILED, "Fooocus finished without producing an image (see its console)"
    return TaskStatus.FINISHED, None


def _describe(error: BaseException | None) -> str | None:
    if error is None:
        return None
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _log_end(task: Task) -> None:
    seconds = ((task.finish_mills or 0) - (task.start_mills or task.in_queue_mills)) / 1000
    if task.status is TaskStatus.FAILED:
        logger.warning("task %s failed after %.1f s: %s", task.task_id, seconds, task.error)
    else:
        logger.info("task %s %s (%s, %.1f s, %d image(s))", task.task_id, task.status.value,
                    task.source, seconds, len(task.results))


UI_PARAM_NAMES = ("prompt", "negative_prompt", "style_selections", "performance_selection",
                  "aspect_ratios_selection", "image_number", "output_format", "seed",
                  "sharpness", "cfg_scale", "base_model_name", "refiner_model_name",
                  "refiner_switch", "loras", "current_tab", "uov_method", "sampler_name",
                  "scheduler_name", "vae_name")


def ui_params(fooocus_task: Any) -> dict[str, Any]:
    """What history keeps of a task started from the Gradio UI."""
    params: dict[str, Any] = {}
    for name in UI_PARAM_NAMES:
        value = getattr(fooocus_task, name, None)
        value = getattr(value, "value", value)
        if isinstance(value, (str, int, float, bool, list, tuple, type(None))):
            params[name] = list(value) if isinstance(value, tuple) else value
    if "loras" in params:
        params["loras"] = [list(lora) for lora in params["loras"]]
    if isinstance(params.get("aspect_ratios_selection"), str):
        # The UI's label carries HTML ('1152×896 <span ...>'); keep the API's '1152*896'.
        size = params["aspect_ratios_selection"].split(" ")[0]
        params["aspect_ratios_selection"] = size.replace("×", "*")
    return params
