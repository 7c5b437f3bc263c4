"""The two helpers of Fooocus's modules/util.py that the task flow relies on."""
from __future__ import annotations

import datetime
import os
import random
from typing import Any
from collections.abc import Sequence


def get_enabled_loras(loras: Sequence[Sequence[Any]],
                      remove_none: bool = True) -> list[tuple[Any, Any]]:
    """(enabled, filename, weight) triples -> (filename, weight) of the enabled ones.

    With remove_none, a LoRA whose filename is 'None' counts as not chosen.
    """
    chosen = []
    for enabled, filename, weight in (lora[:3] for lora in loras):
        if enabled and not (remove_none and filename == 'None'):
            chosen.append((filename, weight))
    return chosen


def generate_temp_filename(folder: str = './outputs/',
                           extension: str = 'png') -> tuple[str, str, str]:
    """A new image path: folder/YYYY-MM-DD/YYYY-MM-DD_HH-MM-SS_NNNN.ext.

    Returns (date folder name, absolute path, file name).
    """
    now = datetime.datetime.now()
    day = now.strftime('%Y-%m-%d')
    filename = f"{now.strftime('%Y-%m-%d_%H-%M-%S')}_{random.randint(1000, 9999)}.{extension}"
    return day, os.path.abspath(os.path.join(folder, day, filename)), filename
