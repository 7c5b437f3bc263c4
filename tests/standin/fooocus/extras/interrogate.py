"""Stand-in for Fooocus's BLIP describer: `default_interrogator(image) -> str`."""
from __future__ import annotations

from typing import Any


def default_interrogator(image: Any) -> str:
    height, width = image.shape[:2]
    return f"a stand-in photograph of {width}x{height} pixels"
