"""The API's parts, built once per Fooocus process."""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

from .engine import Engine
from .files import FileRoots
from .history import History
from .images import ImageSources
from .options import APIOptions
from .outbound import OutboundPolicy
from .task_queue import TaskQueue

logger = logging.getLogger("fooocus_api")

HISTORY_FILE = "db.sqlite3"
INPUTS_FOLDER = "inputs"


@dataclass
class APIService:
    options: APIOptions
    engine: Engine
    files: FileRoots
    history: History
    tasks: TaskQueue

    @property
    def image_sources(self) -> ImageSources:
        return ImageSources(self.files, OutboundPolicy(self.options.allow_hosts),
                            self.options.max_pixels)


_service: APIService | None = None


def start(engine: Engine) -> APIService:
    """Build the service from Fooocus's parsed flags and configuration (once)."""
    global _service
    if _service is not None:
        return _service

    configure_logging()
    options = APIOptions.from_args(engine.args)
    outputs = engine.outputs_dir
    files = FileRoots(results=engine.temp_dir if engine.image_log_disabled else outputs,
                      inputs=outputs / INPUTS_FOLDER)
    history = History(outputs / HISTORY_FILE)
    _service = APIService(options, engine, files, history, TaskQueue(engine, history, files))
    logger.info("REST API ready; history in %s", history.path)
    return _service


def current() -> APIService:
    if _service is None:
        raise RuntimeError("the API service has not started")
    return _service


def configure_logging() -> None:
    """Give the plugin's logger a console handler; Fooocus configures none."""
    plugin_logger = logging.getLogger("fooocus_api")
    if plugin_logger.handlers:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[API] %(message)s"))
    plugin_logger.addHandler(handler)
    plugin_logger.setLevel(logging.INFO)
    plugin_logger.propagate = False
