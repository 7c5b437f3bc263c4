"""Stand-in for Fooocus's WD14 tagger: `default_interrogator(image) -> str`."""
from __future__ import annotations

from typing import Any


def default_interrogator(image: Any) -> str:
    return "stand-in, anime, tags"
