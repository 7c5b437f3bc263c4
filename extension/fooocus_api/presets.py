"""`preset`: a Fooocus preset supplies the fields a request leaves out.

The mapping is the one Fooocus's UI applies when a preset is picked; a field the
request sets itself always wins, even when its value equals the default.
"""
from __future__ import annotations

from typing import Any

from .arguments import RequestError
from .catalog import NO_MODEL, Catalog
from .request import GenerateRequest, Lora

NO_PRESET = ("", "initial")

PRESET_FIELDS = {
    "default_model": "base_model_name",
    "default_refiner": "refiner_model_name",
    "default_refiner_switch": "refiner_switch",
    "default_cfg_scale": "guidance_scale",
    "default_sample_sharpness": "sharpness",
    "default_cfg_tsnr": "adaptive_cfg",
    "default_clip_skip": "clip_skip",
    "default_sampler": "sampler_name",
    "default_scheduler": "scheduler_name",
    "default_overwrite_step": "overwrite_step",
    "default_overwrite_switch": "overwrite_switch",
    "default_performance": "performance_selection",
    "default_image_number": "image_number",
    "default_prompt": "prompt",
    "default_prompt_negative": "negative_prompt",
    "default_styles": "style_selections",
    "default_aspect_ratio": "aspect_ratios_selection",
    "default_save_metadata_to_images": "save_metadata_to_images",
    "default_vae": "vae_name",
    "default_inpaint_engine_version": "inpaint_engine",
}


def apply_preset(request: GenerateRequest, catalog: Catalog) -> GenerateRequest:
    name = (request.preset or "").strip()
    if name in NO_PRESET:
        return request

    available = catalog.presets
    if name not in available:
        raise RequestError("preset", f"'{name}' is not a Fooocus preset", available)

    content = catalog.preset(name)
    updates = {field: value for key, field in PRESET_FIELDS.items()
               if (value := content.get(key)) is not None and field not in request.model_fields_set}
    if updates.get("prompt") == "":
        del updates["prompt"]  # as in the UI: an empty preset prompt keeps the prompt
    if "default_loras" in content and "loras" not in request.model_fields_set:
        entries = content["default_loras"][:catalog.max_loras]
        updates["loras"] = [_lora(entry) for entry in entries]
    catalog.on_miss_refresh(lambda: _require_files(name, updates, catalog))
    return request.model_copy(update=updates)


def _require_files(name: str, updates: dict[str, Any], catalog: Catalog) -> None:
    """The preset's model files must be on disk: the UI downloads them when the
    preset is picked, the API never downloads inside a request."""
    wanted = [("checkpoint", updates.get("base_model_name"), catalog.models),
              ("refiner", updates.get("refiner_model_name"), [NO_MODEL, *catalog.models]),
              ("VAE", updates.get("vae_name"), catalog.vaes)]
    wanted += [("LoRA", lora.model_name, [NO_MODEL, *catalog.loras])
               for lora in updates.get("loras", []) if lora.enabled]
    for kind, file_name, available in wanted:
        if file_name is not None and file_name not in available:
            raise RequestError("preset", f"preset '{name}' uses the {kind} '{file_name}', which is "
                                         "not on this machine. The Fooocus UI downloads it when "
                                         "the preset is picked; the API does not download inside "
                                         "a request. Pick the preset once in the UI (or put the "
                                         "file in its models folder) and send the request again.")


def _lora(entry: list[Any]) -> Lora:
    if len(entry) == 3:
        return Lora(enabled=bool(entry[0]), model_name=str(entry[1]), weight=float(entry[2]))
    return Lora(enabled=True, model_name=str(entry[0]), weight=float(entry[1]))
