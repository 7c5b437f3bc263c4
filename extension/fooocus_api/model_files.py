"""The model files a task or tool will load that Fooocus fetches on first use.

Fooocus downloads these inside its worker the first time something needs them
(the upscaler, inpaint patches, control models, IP-Adapters, mask and describe
models, the performance LoRAs, the safety checker). An API request never starts
a download: a task that needs a file that is not there is refused before it is
queued, with a 422 naming the request field, the file and the folder it goes in.

The rules below follow `modules/async_worker.py` and `extras/` of Fooocus 2.5.5
(its final release): which branch of the worker runs decides which files load.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .arguments import RequestError
from .engine import Engine

UPSCALER = "fooocus_upscaler_s409985e5.bin"
INPAINT_HEAD = "fooocus_inpaint_head.pth"
INPAINT_PATCHES = {"v1": "inpaint.fooocus.patch", "v2.5": "inpaint_v25.fooocus.patch",
                   "v2.6": "inpaint_v26.fooocus.patch"}
CONTROL_MODELS = {"PyraCanny": ["control-lora-canny-rank128.safetensors"],
                  "CPDS": ["fooocus_xl_cpds_128.safetensors"],
                  "ImagePrompt": ["fooocus_ip_negative.safetensors", "ip-adapter-plus_sdxl_vit-h.bin"],
                  "FaceSwap": ["fooocus_ip_negative.safetensors",
                               "ip-adapter-plus-face_sdxl_vit-h.bin"]}
CLIP_VISION = "clip_vision_vit_h.safetensors"
FACE_CROP_MODELS = ["detection_Resnet50_Final.pth", "parsing_parsenet.pth"]
SAM_MODELS = {"vit_b": "sam_vit_b_01ec64.pth", "vit_l": "sam_vit_l_0b3195.pth",
              "vit_h": "sam_vit_h_4b8939.pth"}
GROUNDING_DINO = "groundingdino_swint_ogc.pth"
SAFETY_CHECKER = "stable-diffusion-safety-checker.bin"
DESCRIBE_MODELS = {"Photo": ["model_base_caption_capfilt_large.pth"],
                   "Anime": ["wd-v1-4-moat-tagger-v2.onnx", "wd-v1-4-moat-tagger-v2.csv"]}

# Positions inside one of AsyncTask.enhance_ctrls (the tab's settings after 'enabled').
ENHANCE_MASK_MODEL, ENHANCE_SAM_MODEL, ENHANCE_INPAINT_ENGINE = 3, 5, 10


@dataclass(frozen=True)
class ModelFile:
    field: str  # the request field that makes the task need the file
    folder: Path
    name: str

    @property
    def present(self) -> bool:
        return (self.folder / self.name).exists()


class ModelFiles:
    """Where each kind of file lives, from Fooocus's configuration."""

    def __init__(self, engine: Engine) -> None:
        self._config = engine.config

    def check_task(self, fooocus_task: Any) -> None:
        _refuse_missing(self.for_task(fooocus_task))

    def check_describe(self, image_type: str) -> None:
        _refuse_missing(self._folder("path_clip_vision", "image_type", DESCRIBE_MODELS[image_type]))

    def check_mask(self, mask_model: str, sam_model: str) -> None:
        _refuse_missing(self._mask(mask_model, sam_model, "mask_model"))

    def for_task(self, task: Any) -> Iterator[ModelFile]:
        yield from self._performance(task)
        yield from self._upscale_or_vary(task)
        yield from self._inpaint(task)
        yield from self._image_prompts(task)
        yield from self._enhance(task)
        if getattr(self._config, "default_black_out_nsfw", False) or task.black_out_nsfw:
            yield from self._folder("path_safety_checker", "black_out_nsfw", [SAFETY_CHECKER])

    def _performance(self, task: Any) -> Iterator[ModelFile]:
        lora = task.performance_selection.lora_filename()
        if lora:
            yield ModelFile("performance_selection", Path(self._config.paths_loras[0]), lora)

    def _upscale_or_vary(self, task: Any) -> Iterator[ModelFile]:
        uov_tab = task.current_tab == "uov" or (
            task.current_tab == "ip" and task.mixing_image_prompt_and_vary_upscale)
        if uov_tab and task.uov_input_image is not None and "upscale" in task.uov_method.casefold():
            yield from self._folder("path_upscale_models", "uov_method", [UPSCALER])

    def _inpaint(self, task: Any) -> Iterator[ModelFile]:
        inpaint_tab = task.current_tab == "inpaint" or (
            task.current_tab == "ip" and task.mixing_image_prompt_and_inpaint)
        image = task.inpaint_input_image
        if not (inpaint_tab and isinstance(image, dict) and _paints(task, image)):
            return
        yield from self._folder("path_upscale_models", "inpaint_input_image", [UPSCALER])
        yield from self._inpaint_engine(task.inpaint_engine, "inpaint_engine")

    def _inpaint_engine(self, engine_version: str, field: str) -> Iterator[ModelFile]:
        patch = INPAINT_PATCHES.get(engine_version)
        if patch:
            yield from self._folder("path_inpaint", field, [INPAINT_HEAD, patch])

    def _image_prompts(self, task: Any) -> Iterator[ModelFile]:
        if not (task.current_tab == "ip" or task.mixing_image_prompt_and_vary_upscale
                or task.mixing_image_prompt_and_inpaint):
            return
        for cn_type, files in CONTROL_MODELS.items():
            if not task.cn_tasks.get(cn_type):
                continue
            yield from self._folder("path_controlnet", "controlnet_image", files)
            if cn_type in ("ImagePrompt", "FaceSwap"):
                yield from self._folder("path_clip_vision", "controlnet_image", [CLIP_VISION])
            if cn_type == "FaceSwap" and not task.skipping_cn_preprocessor:
                yield from self._folder("path_controlnet", "controlnet_image", FACE_CROP_MODELS)

    def _enhance(self, task: Any) -> Iterator[ModelFile]:
        if not getattr(task, "should_enhance", False):
            return
        if "upscale" in task.enhance_uov_method.casefold():
            yield from self._folder("path_upscale_models", "enhance_uov_method", [UPSCALER])
        for settings in task.enhance_ctrls:
            # Each tab inpaints its mask's region, upscaled first when under 1024 px.
            yield from self._folder("path_upscale_models", "enhance_ctrls", [UPSCALER])
            yield from self._mask(settings[ENHANCE_MASK_MODEL], settings[ENHANCE_SAM_MODEL],
                                  "enhance_ctrls")
            yield from self._inpaint_engine(settings[ENHANCE_INPAINT_ENGINE], "enhance_ctrls")

    def _mask(self, mask_model: str, sam_model: str, field: str) -> Iterator[ModelFile]:
        if mask_model == "sam":
            yield from self._folder("path_inpaint", field, [GROUNDING_DINO])
            sam_field = "sam_model" if field == "mask_model" else field
            yield from self._folder("path_sam", sam_field, [SAM_MODELS[sam_model]])
            return
        # rembg keeps its sessions' files in $U2NET_HOME, which Fooocus's launch.py
        # points at the inpaint folder.
        folder = Path(os.environ.get("U2NET_HOME") or self._config.path_inpaint)
        yield ModelFile(field, folder, f"{mask_model}.onnx")

    def _folder(self, config_name: str, field: str, names: list[str]) -> Iterator[ModelFile]:
        folder = Path(getattr(self._config, config_name))
        for name in names:
            yield ModelFile(field, folder, name)


def _paints(task: Any, image: dict[str, Any]) -> bool:
    """Fooocus inpaints (and loads the inpaint models) only where a mask or an
    outpaint direction asks for it: it reads the mask's first channel, merges an
    uploaded mask into it, and inverts it first when asked."""
    if task.outpaint_selections:
        return True
    masks = [_first_channel(mask) for mask in (image.get("mask"), task.inpaint_mask_image_upload)
             if isinstance(mask, np.ndarray)]
    if not masks:
        return bool(task.invert_mask_checkbox)  # no mask at all, inverted: paint everything
    if any(mask.shape != masks[0].shape for mask in masks):
        return True  # Fooocus resizes the upload first; assume it paints
    merged = np.maximum.reduce(masks)
    if task.invert_mask_checkbox:
        merged = 255 - merged
    return bool(np.any(merged > 127))


def _first_channel(mask: np.ndarray) -> np.ndarray:
    return mask[:, :, 0] if mask.ndim == 3 else mask


def _refuse_missing(files: Iterator[ModelFile]) -> None:
    missing: dict[str, list[ModelFile]] = {}
    for model_file in files:
        if not model_file.present and model_file not in missing.get(model_file.field, []):
            missing.setdefault(model_file.field, []).append(model_file)
    if not missing:
        return
    field, absent = next(iter(missing.items()))
    listed = ", ".join(str(model_file.folder / model_file.name) for model_file in absent)
    raise RequestError(field, f"needs model files that are not on this machine: {listed}. "
                              "The API does not download models inside a request; put the "
                              "files there (or run the same task once from the Fooocus UI, "
                              "which downloads them) and send the request again.")
