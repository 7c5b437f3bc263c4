"""Time the stand-in's worker with no API in front of it: the baseline the benchmark subtracts.

    python bare_worker.py FOOOCUS_DIR JOB_JSON

Runs inside a copy of the stand-in checkout, with its worker thread running as
in Fooocus. Each AsyncTask is built from the plugin's own argument list for the
request in JOB_JSON, so the worker does the same work as behind the API. Prints
JSON: append→'finish' seconds for tasks run one at a time, and the step stamps of
a batch appended at once (for the hand-off between consecutive tasks).
"""
from __future__ import annotations

import json
import os
import random
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

PLUGIN_PARENT = Path(__file__).resolve().parents[1] / "extension"
STAMP = re.compile(r" @(\d+\.\d+)$")
TASK_TIMEOUT_SECONDS = 30.0


class TimedYields(list):
    """A task's `yields` that notes when the worker appends to it."""

    def __init__(self) -> None:
        super().__init__()
        self.first_append: float | None = None
        self.finish: float | None = None
        self.step_stamps: list[float] = []
        self.finished = threading.Event()

    def append(self, item: Any) -> None:
        now = time.perf_counter()
        if self.first_append is None:
            self.first_append = now
        flag, product = item
        if flag == "preview":
            stamp = STAMP.search(str(product[1]))
            if stamp:
                self.step_stamps.append(float(stamp.group(1)))
        super().append(item)
        if flag == "finish":
            self.finish = now
            self.finished.set()


def main() -> None:
    fooocus_dir, job_json = sys.argv[1:]
    job = json.loads(job_json)
    os.chdir(fooocus_dir)
    sys.path[0:0] = [fooocus_dir, str(PLUGIN_PARENT)]
    sys.argv = ["launch.py"]

    from fooocus_api import options

    import ldm_patched.modules.args_parser as args_parser

    options.add_arguments(args_parser.parser)
    import modules.async_worker as worker
    import modules.config

    modules.config.update_files()
    new_task = task_builder(job["request"])

    gaps = random.Random(job.get("seed", 1))
    for _ in range(job.get("warmup", 3)):
        run_one(worker, new_task())
    one_at_a_time = []
    for _ in range(job["tasks"]):
        # A random pause, as the benchmark's client makes, so that appends do not
        # fall in step with the worker's 10 ms poll.
        time.sleep(gaps.uniform(*job.get("gap_seconds", (0.02, 0.04))))
        one_at_a_time.append(run_one(worker, new_task()))
    print(json.dumps({"append_to_finish": one_at_a_time,
                      "batch": run_batch(worker, [new_task() for _ in range(job["batch"])])}))


def task_builder(request_body: dict[str, Any]) -> Any:
    from fooocus_api.arguments import build_arguments
    from fooocus_api.engine import Engine
    from fooocus_api.files import FileRoots
    from fooocus_api.images import ImageSources, resolve_images
    from fooocus_api.request import GenerateRequest

    engine = Engine()
    request = GenerateRequest.model_validate(request_body)
    folder = Path(tempfile.mkdtemp())
    images = resolve_images(request, ImageSources(FileRoots(results=folder, inputs=folder)))

    def new_task() -> Any:
        arguments = build_arguments(request, images.arrays, engine)
        task = engine.new_task(list(arguments.values))
        for name, value in arguments.attributes.items():
            setattr(task, name, value)
        task.yields = TimedYields()
        return task

    return new_task


def run_one(worker: Any, task: Any) -> float:
    appended = time.perf_counter()
    worker.async_tasks.append(task)
    if not task.yields.finished.wait(TASK_TIMEOUT_SECONDS):
        raise RuntimeError("the stand-in worker did not finish a task in time")
    return task.yields.finish - appended


def run_batch(worker: Any, tasks: list[Any]) -> list[dict[str, Any]]:
    for task in tasks:
        worker.async_tasks.append(task)
    for task in tasks:
        if not task.yields.finished.wait(TASK_TIMEOUT_SECONDS * len(tasks)):
            raise RuntimeError("the stand-in worker did not finish the batch in time")
    return [{"first_append": task.yields.first_append, "finish": task.yields.finish,
             "step_stamps": task.yields.step_stamps} for task in tasks]


if __name__ == "__main__":
    main()
