"""Wake coroutines on any event loop when another thread reports a change.

Fooocus's worker is a plain thread and the API may run on more than one event
loop (the Gradio server and the `--api-port` server), so a change is announced
with a version number and each waiting coroutine is woken on its own loop.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable


class Signal:
    def __init__(self) -> None:
        self.version = 0
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._subscribers: list[Callable[[], None]] = []

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Also call `callback` (on the firing thread, so it must be quick) at every change."""
        with self._lock:
            self._subscribers.append(callback)

    @property
    def awaited(self) -> bool:
        """Whether a coroutine is waiting for the next change right now."""
        return bool(self._waiters)

    def fire(self) -> None:
        with self._lock:
            self.version += 1
            waiters, self._waiters = self._waiters, []
            subscribers = list(self._subscribers)

        for callback in subscribers:
            callback()

        for loop, future in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, future)

    async def wait(self, version: int) -> int:
        """Return once the version differs from `version`; return the new version."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self.version != version:
                return self.version
            future: asyncio.Future[None] = loop.create_future()
            entry = (loop, future)
            self._waiters.append(entry)

        try:
            await future
        finally:
            self._forget(entry)
        return self.version

    def _forget(self, entry: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]) -> None:
        with self._lock:
            if entry in self._waiters:
                self._waiters.remove(entry)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
