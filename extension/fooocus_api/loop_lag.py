"""How late the event loop wakes up: the figure that says replies are not stalled.

A monitor per event loop sleeps 50 ms at a time and records how much longer each
sleep took; `/v1/engine/status` reports the recent worst cases.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque

INTERVAL_SECONDS = 0.05
SAMPLES_KEPT = 1200

_monitors: dict[int, LoopLag] = {}


class LoopLag:
    def __init__(self) -> None:
        self.samples: deque[float] = deque(maxlen=SAMPLES_KEPT)

    async def run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(INTERVAL_SECONDS)
            self.samples.append(time.perf_counter() - started - INTERVAL_SECONDS)

    def summary(self) -> dict[str, float | int]:
        ordered = sorted(self.samples)
        if not ordered:
            return {"samples": 0}
        return {"samples": len(ordered), "p50_ms": _ms(ordered, 0.50),
                "p99_ms": _ms(ordered, 0.99), "max_ms": round(ordered[-1] * 1000, 2)}


def monitor() -> LoopLag:
    """The monitor of the running loop, started on first use."""
    loop = asyncio.get_running_loop()
    lag = _monitors.get(id(loop))
    if lag is None:
        lag = _monitors[id(loop)] = LoopLag()
        loop.create_task(lag.run())
    return lag


def _ms(ordered: list[float], quantile: float) -> float:
    return round(ordered[min(len(ordered) - 1, int(quantile * len(ordered)))] * 1000, 2)
