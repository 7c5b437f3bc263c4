"""Fixtures that import the Fooocus stand-in in-process, fresh for every test.

The stand-in's top-level modules (modules, shared, args_manager, ...) are removed
from sys.modules before and after each test, so no state leaks between tests.
Each fresh import starts one more idle worker thread; they are daemons.
"""
from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

STANDIN_ROOT = Path(__file__).resolve().parent / 'fooocus'
STANDIN_PACKAGES = {
    'args_manager', 'entry_with_update', 'fooocus_version', 'launch', 'ldm_patched', 'modules',
    'shared', 'webui',
}
STANDIN_ENV = (
    'FOOOCUS_STANDIN_STEPS', 'FOOOCUS_STANDIN_STEP_SECONDS', 'FOOOCUS_STANDIN_PREVIEW_SIZE',
)


def forget_standin_modules() -> None:
    for name in list(sys.modules):
        if name.split('.')[0] in STANDIN_PACKAGES:
            del sys.modules[name]


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    return tmp_path / 'outputs'


@pytest.fixture
def temp_folder(tmp_path: Path) -> Path:
    return tmp_path / 'temp'


@pytest.fixture
def load_fooocus(monkeypatch: pytest.MonkeyPatch, outputs: Path,
                 temp_folder: Path) -> Iterator[Callable[..., SimpleNamespace]]:
    """load_fooocus(*flags) imports the stand-in as `python launch.py *flags` would."""
    monkeypatch.setenv('FOOOCUS_STANDIN_OUTPUTS', str(outputs))
    monkeypatch.setenv('GRADIO_ANALYTICS_ENABLED', 'False')
    for name in STANDIN_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.syspath_prepend(str(STANDIN_ROOT))

    def load(*flags: str) -> SimpleNamespace:
        forget_standin_modules()
        monkeypatch.setattr(sys, 'argv', ['launch.py', '--temp-path', str(temp_folder), *flags])
        return SimpleNamespace(
            worker=importlib.import_module('modules.async_worker'),
            config=importlib.import_module('modules.config'),
            flags=importlib.import_module('modules.flags'),
            util=importlib.import_module('modules.util'),
            args_manager=importlib.import_module('args_manager'),
            model_management=importlib.import_module('ldm_patched.modules.model_management'),
        )

    yield load
    forget_standin_modules()


@pytest.fixture
def load_webui(load_fooocus: Callable[..., SimpleNamespace],
               monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[Any, dict[str, Any]]]:
    """load_webui(*flags) imports webui.py with Blocks.launch recorded instead of serving."""
    import gradio

    launches: list[dict[str, Any]] = []
    monkeypatch.setattr(gradio.Blocks, 'launch', lambda self, **kwargs: launches.append(kwargs))

    def load(*flags: str) -> tuple[Any, dict[str, Any]]:
        load_fooocus(*flags)
        webui = importlib.import_module('webui')
        return webui, launches[-1]

    return load
