"""Stand-in for Fooocus's mask generation: `generate_mask_from_image` and `SAMOptions`.

The mask is white over the middle half of the image, black elsewhere, for every model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class SAMOptions:
    dino_prompt: str = ''
    dino_box_threshold: float = 0.3
    dino_text_threshold: float = 0.25
    dino_erode_or_dilate: int = 0
    dino_debug: bool = False
    max_detections: int = 2
    model_type: str = 'vit_b'


def generate_mask_from_image(image: Any, mask_model: str = 'sam', extras: dict | None = None,
                             sam_options: SAMOptions | None = None) -> tuple[Any, int, int, int]:
    if image is None:
        return None, 0, 0, 0
    height, width = image.shape[:2]
    mask = np.zeros((height, width, 3), dtype=np.uint8)
    mask[height // 4: height * 3 // 4, width // 4: width * 3 // 4] = 255
    return mask, 1, 1, 1
