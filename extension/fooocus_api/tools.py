"""Describe-image and mask generation: Fooocus's own tools, run beside the queue.

A tool never runs while a generation does: it waits for the worker to be idle
and holds the next task back until it is done, so the two never compete for
the same models and memory. It runs on a thread, never on the event loop.
"""
from __future__ import annotations

import base64
import importlib
from typing import Any

from .files import png_bytes

DESCRIBE_MODULES = {"Photo": "extras.interrogate", "Anime": "extras.wd14tagger"}


def describe(image: Any, image_type: str) -> str:
    interrogator = importlib.import_module(DESCRIBE_MODULES[image_type]).default_interrogator
    return str(interrogator(image))


def generate_mask(image: Any, options: dict[str, Any]) -> str:
    """The mask as base64 PNG, built the way the UI's 'Generate mask' button does."""
    inpaint_mask = importlib.import_module("extras.inpaint_mask")
    extras: dict[str, Any] = {}
    sam_options = None
    if options["mask_model"] == "u2net_cloth_seg":
        extras["cloth_category"] = options["cloth_category"]
    elif options["mask_model"] == "sam":
        sam_options = inpaint_mask.SAMOptions(
            dino_prompt=options["dino_prompt_text"],
            dino_box_threshold=options["box_threshold"],
            dino_text_threshold=options["text_threshold"],
            dino_erode_or_dilate=options["dino_erode_or_dilate"],
            dino_debug=options["dino_debug"],
            max_detections=options["sam_max_detections"],
            model_type=options["sam_model"],
        )
    mask, *_ = inpaint_mask.generate_mask_from_image(image, options["mask_model"], extras,
                                                     sam_options)
    return base64.b64encode(png_bytes(mask)).decode("ascii")
