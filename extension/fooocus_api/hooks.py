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
SourceTransform = Callable[[str, str], str]


class AfterImportFinder(importlib.abc.MetaPathFinder):
    """A meta path finder that only wraps the loaders of the modules it watches."""

    def __init__(self, callbacks: dict[str, AfterImport],
                 transform: SourceTransform | None, transformed: set[str]) -> None:
        self._callbacks = dict(callbacks)
        self._transform = transform
        self._transformed = set(transformed)

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None):
        callback = self._callbacks.pop(fullname, None)
        transform = self._transform if fullname in self._transformed else None
        self._transformed.discard(fullname)
        if callback is None and transform is None:
            return None

        spec = _find_with_other_finders(self, fullname, path, target)
        if spec is None or spec.loader is None:
            return spec

        spec.loader = _CallbackLoader(spec.loader, callback, transform)
        return spec


class _CallbackLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader, callback: AfterImport | None,
                 transform: SourceTransform | None) -> None:
        self._loader = loader
        self._callback = callback
        self._transform = transform

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        if self._transform is None:
            self._loader.exec_module(module)
        else:
            name = module.__spec__.name
            source = self._transform(name, self._loader.get_source(name))
            exec(compile(source, module.__spec__.origin, "exec"), module.__dict__)
        if self._callback is not None:
            self._callback(module)


def _find_with_other_finders(me: object, fullname: str, path, target):
    for finder in sys.meta_path:
        if finder is me or not hasattr(finder, "find_spec"):
            continue
        spec = finder.find_spec(fullname, path, target)
        if spec is not None:
            return spec
    return None


def after_import(callbacks: dict[str, AfterImport], transform: SourceTransform | None = None,
                 transformed: set[str] | None = None) -> None:
    """Call each callback once its module has been imported; before that, pass the
    source of each module in `transformed` through `transform(name, source)`.

    A module that is already imported gets its callback at once (and no transform).
    """
    pending = {}
    for name, callback in callbacks.items():
        module = sys.modules.get(name)
        if module is not None:
            callback(module)
        else:
            pending[name] = callback

    sys.meta_path.insert(0, AfterImportFinder(pending, transform, transformed or set()))
