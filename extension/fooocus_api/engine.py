"""The one place that reaches into Fooocus's modules.

Everything else in the plugin talks to an `Engine`: Fooocus's configuration
(defaults and file lists), its flags, `AsyncTask`, the worker's queue and its
interrupt switch. Importing Fooocus's modules is deferred to first use, because
they only exist inside a running Fooocus.
"""
from __future__ import annotations

import importlib
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any


class Engine:
    @cached_property
    def config(self) -> ModuleType:
        return importlib.import_module("modules.config")

    @cached_property
    def flags(self) -> ModuleType:
        return importlib.import_module("modules.flags")

    @cached_property
    def worker(self) -> ModuleType:
        return importlib.import_module("modules.async_worker")

    @cached_property
    def model_management(self) -> ModuleType:
        return importlib.import_module("ldm_patched.modules.model_management")

    @cached_property
    def args(self) -> Any:
        return importlib.import_module("args_manager").args

    @property
    def image_log_disabled(self) -> bool:
        return bool(self.args.disable_image_log)

    @property
    def metadata_disabled(self) -> bool:
        return bool(self.args.disable_metadata)

    @property
    def outputs_dir(self) -> Path:
        return Path(self.config.path_outputs).resolve()

    @property
    def temp_dir(self) -> Path:
        return Path(self.config.temp_path).resolve()

    def new_task(self, arguments: list[Any]) -> Any:
        return self.worker.AsyncTask(args=arguments)

    def interrupt(self) -> None:
        self.model_management.interrupt_current_processing()

    def clear_interrupt(self) -> None:
        management = self.model_management
        with management.interrupt_processing_mutex:
            management.interrupt_processing = False

    def refresh_files(self) -> None:
        self.config.update_files()
