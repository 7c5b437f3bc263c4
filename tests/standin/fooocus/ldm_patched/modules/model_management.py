"""The interrupt flag that Stop and Skip raise and the sampler checks once per step."""
from __future__ import annotations

import threading


class InterruptProcessingException(Exception):
    """Raised inside sampling after Stop or Skip asked the current image to end."""


interrupt_processing_mutex = threading.RLock()
interrupt_processing = False


def interrupt_current_processing(value: bool = True) -> None:
    global interrupt_processing
    with interrupt_processing_mutex:
        interrupt_processing = value


def processing_interrupted() -> bool:
    with interrupt_processing_mutex:
        return interrupt_processing


def throw_exception_if_processing_interrupted() -> None:
    """Raise once per request: the flag is cleared as the exception is raised."""
    global interrupt_processing
    with interrupt_processing_mutex:
        if not interrupt_processing:
            return
        interrupt_processing = False
    raise InterruptProcessingException()
