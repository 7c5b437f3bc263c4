"""Run a function right after a named module finishes importing.

This is how the plugin attaches to an unmodified Fooocus: it never edits
Fooocus's files, it waits for Fooocus to import a module and then adds to it.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

AfterImport = Callable[[ModuleType], None]


class AfterImportFinder(importlib.abc.MetaPathFinder):
    """A meta path finder that only wraps the loaders of the modules it watches."""

    def __init__(self, callbacks: dict[str, AfterImport]) -> None:
        self._callbacks = dict(callbacks)

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None):
        callback = self._callbacks.pop(fullname, None)
        if callback is None:
            return None

        spec = _find_with_other_finders(self, fullname, path, target)
        if spec is None or spec.loader is None:
            return spec

        spec.loader = _CallbackLoader(spec.loader, callback)
        return spec


class _CallbackLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader, callback: AfterImport) -> None:
        self._loader = loader
        self._callback = callback

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        self._callback(module)


def _find_with_other_finders(me: object, fullname: str, path, target):
    for finder in sys.meta_path:
        if finder is me or not hasattr(finder, "find_spec"):
            continue
        spec = finder.find_spec(fullname, path, target)
        if spec is not None:
            return spec
    return None


def after_import(callbacks: dict[str, AfterImport]) -> None:
    """Call each callback once its module has been imported.

    A module that is already imported gets its callback at once.
    """
    pending = {}
    for name, callback in callbacks.items():
        module = sys.modules.get(name)
        if module is not None:
            callback(module)
        else:
            pending[name] = callback

    if pending:
        sys.meta_path.insert(0, AfterImportFinder(pending))
