"""Turn a generate request into `AsyncTask`'s argument list, as the UI builds it.

Fooocus's `AsyncTask(args)` reads its fields in the order of webui.py's `ctrls`
list (without the leading `currentTask`). That order is written out once here,
section by section. Two entries depend on Fooocus's flags exactly as `ctrls`
does: `save_final_enhanced_image_only` is absent with `--disable-image-log`, and
`save_metadata_to_images, metadata_scheme` are absent with `--disable-metadata`.

A value the request leaves out is what the UI would send untouched: Fooocus's
configuration default. The tab follows from which images are given.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from .catalog import NO_MODEL, Catalog
from .engine import Engine
from .request import EnhanceControl, GenerateRequest

MIN_SEED = 0
MAX_SEED = 2**63 - 1
CUSTOM_UPSCALE = "Upscale (Custom)"


class RequestError(ValueError):
    """A request field Fooocus cannot run; becomes a 422 naming the field."""

    def __init__(self, field_name: str, message: str, allowed: list[Any] | None = None) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message
        self.allowed = allowed


@dataclass
class InputImages:
    """The request's images, decoded to RGB arrays (None where not given)."""

    uov: Any = None
    inpaint: Any = None
    mask: Any = None
    enhance: Any = None
    prompts: list[Any] = field(default_factory=list)


@dataclass
class TaskArguments:
    values: list[Any]
    seed: int
    tab: str
    attributes: dict[str, Any] = field(default_factory=dict)
    """Set on the AsyncTask after it is built; read by the plugin's patches."""


def build_arguments(request: GenerateRequest, images: InputImages, engine: Engine) -> TaskArguments:
    config, flags = engine.config, engine.flags
    catalog = Catalog(engine)
    catalog.on_miss_refresh(lambda: check_names(request, catalog, config))
    tab = current_tab(request, images)
    seed = resolve_seed(request.image_seed)
    request, images = apply_outpaint_distance(request, images)

    values: list[Any] = [request.generate_image_grid]
    values += _prompt_section(request, config, flags, seed)
    values += _model_section(request, config)
    values += [_has_input_image(images), tab]
    values += _image_section(request, images, flags)
    values += _advanced_section(request, config, flags, images, tab)
    values += _save_section(request, config, engine)
    values += _image_prompt_section(request, images, config, flags)
    values += _enhance_section(request, images, config, flags)
    return TaskArguments(values, seed, tab, _custom_upscale(request))


def _custom_upscale(request: GenerateRequest) -> dict[str, Any]:
    if request.uov_method != CUSTOM_UPSCALE:
        return {}
    from . import patching

    if "upscale_multiple" not in patching.patches.applied:
        raise RequestError("uov_method", "'Upscale (Custom)' needs the upscale_multiple patch, "
                                         "which did not apply to this Fooocus (see its log)")
    return {"upscale_multiple": request.upscale_multiple}


def apply_outpaint_distance(request: GenerateRequest,
                            images: InputImages) -> tuple[GenerateRequest, InputImages]:
    """Outpaint by given pixel distances the way Fooocus outpaints by 30 %: pad the image
    (edge pixels) and the mask (white), then inpaint the whole with strength 1."""
    distances = dict(zip(("left", "top", "right", "bottom"), request.outpaint_distance))
    if not any(distances.values()) or images.inpaint is None:
        return request, images

    import numpy as np

    image = images.inpaint
    height, width = image.shape[:2]
    selected = {direction.lower() for direction in request.outpaint_selections}
    for direction, size in ((("top", height), ("bottom", height), ("left", width),
                             ("right", width))):
        if not distances[direction] and direction in selected:
            distances[direction] = int(size * 0.3)

    mask = images.mask if images.mask is not None else np.zeros_like(image)
    padding = ((distances["top"], distances["bottom"]), (distances["left"], distances["right"]))
    padded = InputImages(**{**images.__dict__})
    padded.inpaint = np.ascontiguousarray(np.pad(image, (*padding, (0, 0)), mode="edge"))
    padded.mask = np.ascontiguousarray(np.pad(mask, (*padding, (0, 0)), mode="constant",
                                              constant_values=255))
    changed = request.model_copy(update={"outpaint_selections": [], "inpaint_strength": 1.0,
                                         "inpaint_respective_field": 1.0,
                                         "outpaint_distance": [0, 0, 0, 0]})
    return changed, padded


def check_names(request: GenerateRequest, catalog: Catalog, config: Any) -> None:
    """Every model, LoRA, VAE and style named must be one this Fooocus has."""
    base = _given(request.base_model_name, config.default_base_model_name)
    _choice("base_model_name", base, catalog.models)
    refiner = _given(request.refiner_model_name, config.default_refiner_model_name)
    _choice("refiner_model_name", refiner, [NO_MODEL, *catalog.models])
    for slot, lora in enumerate(request.loras or []):
        if lora.model_name != NO_MODEL:
            _choice(f"loras[{slot}].model_name", lora.model_name, [NO_MODEL, *catalog.loras])
    _choice("vae_name", _given(request.vae_name, config.default_vae), catalog.vaes)
    styles = catalog.styles
    for style in request.style_selections or []:
        _choice("style_selections", style, styles)


def current_tab(request: GenerateRequest, images: InputImages) -> str:
    if images.uov is not None and request.uov_method != "Disabled":
        return "uov"
    if images.inpaint is not None:
        return "inpaint"
    if any(image is not None for image in images.prompts):
        return "ip"
    if images.enhance is not None:
        return "enhance"
    return "uov"


def resolve_seed(seed: int | None) -> int:
    if seed is None or seed == -1:
        return random.randint(MIN_SEED, MAX_SEED)
    return seed


def _has_input_image(images: InputImages) -> bool:
    return any(image is not None for image in
               (images.uov, images.inpaint, images.enhance, *images.prompts))


def _prompt_section(request: GenerateRequest, config: Any, flags: Any, seed: int) -> list[Any]:
    return [
        _given(request.prompt, config.default_prompt),
        _given(request.negative_prompt, config.default_prompt_negative),
        list(_given(request.style_selections, config.default_styles)),
        _choice("performance_selection",
                _given(request.performance_selection, config.default_performance),
                flags.Performance.values()),
        aspect_ratio_label(request.aspect_ratios_selection, config),
        _given(request.image_number, config.default_image_number),
        _output_format(_given(request.output_format, config.default_output_format)),
        seed,
        request.read_wildcards_in_order,
        _given(request.sharpness, config.default_sample_sharpness),
        _given(request.guidance_scale, config.default_cfg_scale),
    ]


def _model_section(request: GenerateRequest, config: Any) -> list[Any]:
    values = [
        _given(request.base_model_name, config.default_base_model_name),
        _given(request.refiner_model_name, config.default_refiner_model_name),
        _given(request.refiner_switch, config.default_refiner_switch),
    ]
    for enabled, name, weight in lora_slots(request, config):
        values += [enabled, name, weight]
    return values


def lora_slots(request: GenerateRequest, config: Any) -> list[tuple[bool, str, float]]:
    maximum = config.default_max_lora_number
    if request.loras is None:
        slots = [tuple(lora) for lora in config.default_loras]
    else:
        slots = [(lora.enabled, lora.model_name, lora.weight) for lora in request.loras]
    if len(slots) > maximum:
        raise RequestError("loras", f"at most {maximum} LoRAs (Fooocus's default_max_lora_number), "
                                    f"got {len(slots)}")
    return slots + [(True, "None", 1.0)] * (maximum - len(slots))


def _image_section(request: GenerateRequest, images: InputImages, flags: Any) -> list[Any]:
    uov_method = "Upscale (2x)" if request.uov_method == CUSTOM_UPSCALE else request.uov_method
    return [
        _choice("uov_method", uov_method, flags.uov_list),
        images.uov,
        [direction for direction in request.outpaint_selections],
        _inpaint_canvas(images),
        request.inpaint_additional_prompt,
        None,
    ]


def _inpaint_canvas(images: InputImages) -> dict[str, Any] | None:
    """The inpaint image as Gradio's sketch tool hands it over: image plus painted mask."""
    if images.inpaint is None:
        return None

    import numpy as np

    mask = images.mask if images.mask is not None else np.zeros_like(images.inpaint)
    return {"image": images.inpaint, "mask": mask}


def _advanced_section(request: GenerateRequest, config: Any, flags: Any, images: InputImages,
                      tab: str) -> list[Any]:
    has_prompts = any(image is not None for image in images.prompts)
    return [
        request.disable_preview, request.disable_intermediate_results,
        request.disable_seed_increment,
        _given(request.black_out_nsfw, config.default_black_out_nsfw),
        request.adm_scaler_positive, request.adm_scaler_negative, request.adm_scaler_end,
        _given(request.adaptive_cfg, config.default_cfg_tsnr),
        _given(request.clip_skip, config.default_clip_skip),
        _choice("sampler_name", _given(request.sampler_name, config.default_sampler),
                flags.sampler_list),
        _choice("scheduler_name", _given(request.scheduler_name, config.default_scheduler),
                flags.scheduler_list),
        _given(request.vae_name, config.default_vae),
        _given(request.overwrite_step, config.default_overwrite_step),
        _given(request.overwrite_switch, config.default_overwrite_switch),
        request.overwrite_width, request.overwrite_height, request.overwrite_vary_strength,
        _given(request.overwrite_upscale_strength, config.default_overwrite_upscale),
        request.mixing_image_prompt_and_vary_upscale or (tab == "uov" and has_prompts),
        request.mixing_image_prompt_and_inpaint or (tab == "inpaint" and has_prompts),
        request.debugging_cn_preprocessor, request.skipping_cn_preprocessor,
        request.canny_low_threshold, request.canny_high_threshold,
        request.refiner_swap_method, request.controlnet_softness,
        request.freeu_enabled, request.freeu_b1, request.freeu_b2, request.freeu_s1,
        request.freeu_s2,
        request.debugging_inpaint_preprocessor, request.inpaint_disable_initial_latent,
        _given(request.inpaint_engine, config.default_inpaint_engine_version),
        request.inpaint_strength, request.inpaint_respective_field,
        _given(request.inpaint_advanced_masking_checkbox,
               config.default_inpaint_advanced_masking_checkbox),
        _given(request.invert_mask_checkbox, config.default_invert_mask_checkbox),
        request.inpaint_erode_or_dilate,
    ]


def _save_section(request: GenerateRequest, config: Any, engine: Engine) -> list[Any]:
    values: list[Any] = []
    if not engine.image_log_disabled:
        values.append(_given(request.save_final_enhanced_image_only,
                             config.default_save_only_final_enhanced_image))
    if not engine.metadata_disabled:
        values.append(_given(request.save_metadata_to_images,
                             config.default_save_metadata_to_images))
        values.append(_given(request.metadata_scheme, config.default_metadata_scheme))
    return values


def _image_prompt_section(request: GenerateRequest, images: InputImages, config: Any,
                          flags: Any) -> list[Any]:
    count = config.default_controlnet_image_count
    if len(request.controlnet_image) > count:
        raise RequestError("controlnet_image", f"at most {count} image prompts (Fooocus's "
                                               f"default_controlnet_image_count), got "
                                               f"{len(request.controlnet_image)}")
    values: list[Any] = []
    for slot in range(count):
        if slot < len(request.controlnet_image):
            prompt = request.controlnet_image[slot]
            stop, weight = flags.default_parameters[prompt.cn_type]
            image = images.prompts[slot] if slot < len(images.prompts) else None
            values += [image, _given(prompt.cn_stop, stop), _given(prompt.cn_weight, weight),
                       prompt.cn_type]
        else:
            number = slot + 1
            values += [None, config.default_ip_stop_ats[number], config.default_ip_weights[number],
                       config.default_ip_types[number]]
    return values


def _enhance_section(request: GenerateRequest, images: InputImages, config: Any,
                     flags: Any) -> list[Any]:
    tabs = config.default_enhance_tabs
    if len(request.enhance_ctrls) > tabs:
        raise RequestError("enhance_ctrls", f"at most {tabs} enhance tabs (Fooocus's "
                                            f"default_enhance_tabs), got {len(request.enhance_ctrls)}")
    values: list[Any] = [
        request.debugging_dino, request.dino_erode_or_dilate,
        request.debugging_enhance_masks_checkbox,
        images.enhance,
        request.enhance_checkbox or images.enhance is not None,
        _choice("enhance_uov_method",
                _given(request.enhance_uov_method, config.default_enhance_uov_method),
                flags.uov_list),
        _given(request.enhance_uov_processing_order, config.default_enhance_uov_processing_order),
        _given(request.enhance_uov_prompt_type, config.default_enhance_uov_prompt_type),
    ]
    for slot in range(tabs):
        control = request.enhance_ctrls[slot] if slot < len(request.enhance_ctrls) else None
        values += _enhance_tab(control, config)
    return values


def _enhance_tab(control: EnhanceControl | None, config: Any) -> list[Any]:
    if control is None:
        control = EnhanceControl(
            enhance_mask_model=config.default_enhance_inpaint_mask_model,
            enhance_mask_cloth_category=config.default_inpaint_mask_cloth_category,
            enhance_mask_sam_model=config.default_inpaint_mask_sam_model,
            enhance_mask_sam_max_detections=config.default_sam_max_detections,
            enhance_inpaint_engine=config.default_inpaint_engine_version,
        )
    return [
        control.enhance_enabled, control.enhance_mask_dino_prompt, control.enhance_prompt,
        control.enhance_negative_prompt, control.enhance_mask_model,
        control.enhance_mask_cloth_category, control.enhance_mask_sam_model,
        control.enhance_mask_text_threshold, control.enhance_mask_box_threshold,
        control.enhance_mask_sam_max_detections, control.enhance_inpaint_disable_initial_latent,
        control.enhance_inpaint_engine, control.enhance_inpaint_strength,
        control.enhance_inpaint_respective_field, control.enhance_inpaint_erode_or_dilate,
        control.enhance_mask_invert,
    ]


def aspect_ratio_label(requested: str | None, config: Any) -> str:
    """Fooocus's own label for '1152*896', '1152×896' or a full label."""
    labels = list(config.available_aspect_ratios_labels)
    if requested is None:
        return config.default_aspect_ratio

    wanted = requested.replace("*", "×").split(" ")[0].strip()
    for label in labels:
        if label.split(" ")[0] == wanted:
            return label
    raise RequestError("aspect_ratios_selection", f"'{requested}' is not one of Fooocus's "
                                                  "aspect ratios",
                       [label.split(" ")[0].replace("×", "*") for label in labels])


def _output_format(value: str) -> str:
    return "jpeg" if value == "jpg" else value


def _choice(field_name: str, value: Any, allowed: list[Any]) -> Any:
    if value not in allowed:
        raise RequestError(field_name, f"'{value}' is not allowed", list(allowed))
    return value


def _given(value: Any, default: Any) -> Any:
    return default if value is None else value
