"""Build an AsyncTask from a generate request and print its attributes as JSON.

    python task_attributes.py FOOOCUS_DIR REQUEST_JSON [Fooocus flags ...]

REQUEST_JSON is one request (prints one object) or a list of them (prints a list).

Runs inside a Fooocus checkout (real or stand-in) with the Python that runs it.
The plugin turns the request into the argument list; Fooocus's own AsyncTask
reads it. Fooocus's worker thread is not started, so no model is loaded.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
from enum import Enum
from pathlib import Path
from typing import Any

PLUGIN_PARENT = Path(__file__).resolve().parents[2] / "extension"


def main() -> None:
    fooocus_dir, request_json, *flags = sys.argv[1:]
    os.chdir(fooocus_dir)
    sys.path[0:0] = [fooocus_dir, str(PLUGIN_PARENT)]
    sys.argv = ["launch.py", *flags]

    from fooocus_api import options

    import ldm_patched.modules.args_parser as args_parser

    options.add_arguments(args_parser.parser)
    worker = _import_worker_without_its_thread()
    import modules.config

    modules.config.update_files()  # as launch.py does before the UI starts

    requests = json.loads(request_json)
    if isinstance(requests, list):
        json.dump([_attributes(worker, request) for request in requests], sys.stdout)
    else:
        json.dump(_attributes(worker, requests), sys.stdout)


def _attributes(worker: Any, request_fields: dict[str, Any]) -> dict[str, Any]:
    from fooocus_api.arguments import build_arguments
    from fooocus_api.engine import Engine
    from fooocus_api.files import FileRoots
    from fooocus_api.images import ImageSources, resolve_images
    from fooocus_api.model_files import ModelFiles
    from fooocus_api.request import GenerateRequest

    request = GenerateRequest.model_validate(request_fields)
    folder = Path(tempfile.mkdtemp())
    images = resolve_images(request, ImageSources(FileRoots(results=folder, inputs=folder)))
    arguments = build_arguments(request, images.arrays, Engine())
    task = worker.AsyncTask(args=list(arguments.values))
    attributes = {name: _plain(value) for name, value in vars(task).items() if name != "args"}
    attributes["argument_count"] = len(arguments.values)
    attributes["model_files"] = [[needed.field, needed.name]
                                 for needed in ModelFiles(Engine()).for_task(task)]
    return attributes


def _import_worker_without_its_thread() -> Any:
    start = threading.Thread.start

    def start_unless_worker(thread: threading.Thread) -> None:
        if getattr(getattr(thread, "_target", None), "__name__", "") != "worker":
            start(thread)

    threading.Thread.start = start_unless_worker
    try:
        import modules.async_worker as worker
    finally:
        threading.Thread.start = start
    return worker


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "shape"):
        return {"shape": list(value.shape)}
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


if __name__ == "__main__":
    main()
