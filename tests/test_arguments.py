"""Every request field lands on the AsyncTask attribute Fooocus reads it into.

The plugin builds the argument list; Fooocus's own `AsyncTask` (the stand-in's
in CI, the real 2.5.5 one when FOOOCUS_DIR and FOOOCUS_PY point at a checkout)
reads it, and the attributes it ends up with are compared field by field. The
flags that change webui.py's `ctrls` list are tried in every combination.
"""
from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from fooocus_server import STANDIN

PROBE = Path(__file__).resolve().parent / "probe" / "task_attributes.py"
FLAG_SETS = [[], ["--disable-image-log"], ["--disable-metadata"],
             ["--disable-image-log", "--disable-metadata"]]


def png_base64(width: int, height: int, colour: tuple[int, int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


REQUEST = {
    "prompt": "p-prompt", "negative_prompt": "n-prompt",
    "style_selections": ["Fooocus V2", "Fooocus Sharp"],
    "performance_selection": "Lightning", "aspect_ratios_selection": "896*1152",
    "image_number": 3, "output_format": "webp", "image_seed": 123456789,
    "read_wildcards_in_order": True, "sharpness": 7.5, "guidance_scale": 5.5,
    "refiner_model_name": "None", "refiner_switch": 0.55,
    "loras": [{"enabled": True, "model_name": "sdxl_lcm_lora.safetensors", "weight": 0.25},
              {"enabled": False, "model_name": "sdxl_hyper_sd_4step_lora.safetensors",
               "weight": 0.5}],
    "uov_method": "Vary (Strong)", "uov_input_image": png_base64(40, 24, (200, 10, 10)),
    "outpaint_selections": ["Left", "Top"], "inpaint_additional_prompt": "i-prompt",
    "disable_preview": True, "disable_intermediate_results": True,
    "disable_seed_increment": True, "black_out_nsfw": True,
    "adm_scaler_positive": 1.25, "adm_scaler_negative": 0.75, "adm_scaler_end": 0.4,
    "adaptive_cfg": 6.5, "clip_skip": 3, "sampler_name": "euler_ancestral",
    "scheduler_name": "sgm_uniform", "vae_name": "Default (model)",
    "overwrite_step": 11, "overwrite_switch": 12, "overwrite_width": 512,
    "overwrite_height": 640, "overwrite_vary_strength": 0.33,
    "overwrite_upscale_strength": 0.44, "mixing_image_prompt_and_inpaint": True,
    "debugging_cn_preprocessor": True, "skipping_cn_preprocessor": True,
    "canny_low_threshold": 11, "canny_high_threshold": 222, "refiner_swap_method": "vae",
    "controlnet_softness": 0.35, "freeu_enabled": True, "freeu_b1": 1.1, "freeu_b2": 1.2,
    "freeu_s1": 0.8, "freeu_s2": 0.7, "debugging_inpaint_preprocessor": True,
    "inpaint_disable_initial_latent": True, "inpaint_engine": "v2.5",
    "inpaint_strength": 0.66, "inpaint_respective_field": 0.77,
    "inpaint_advanced_masking_checkbox": True, "invert_mask_checkbox": True,
    "inpaint_erode_or_dilate": 5, "save_final_enhanced_image_only": True,
    "save_metadata_to_images": True, "metadata_scheme": "a1111",
    "controlnet_image": [{"cn_img": None},
                         {"cn_img": png_base64(16, 16, (0, 250, 0)), "cn_stop": 0.3,
                          "cn_weight": 1.4, "cn_type": "PyraCanny"}],
    "debugging_dino": True, "dino_erode_or_dilate": -3,
    "debugging_enhance_masks_checkbox": True, "enhance_checkbox": True,
    "enhance_uov_method": "Upscale (1.5x)",
    "enhance_uov_processing_order": "After Last Enhancement",
    "enhance_uov_prompt_type": "Last Filled Enhancement Prompts",
    "enhance_ctrls": [{"enhance_enabled": True, "enhance_mask_dino_prompt": "face",
                       "enhance_prompt": "e-prompt", "enhance_negative_prompt": "e-neg",
                       "enhance_mask_model": "u2net", "enhance_mask_cloth_category": "upper",
                       "enhance_mask_sam_model": "vit_l", "enhance_mask_text_threshold": 0.2,
                       "enhance_mask_box_threshold": 0.35,
                       "enhance_mask_sam_max_detections": 4,
                       "enhance_inpaint_disable_initial_latent": True,
                       "enhance_inpaint_engine": "v1", "enhance_inpaint_strength": 0.9,
                       "enhance_inpaint_respective_field": 0.5,
                       "enhance_inpaint_erode_or_dilate": 2, "enhance_mask_invert": True}],
    "generate_image_grid": True,
}

EXPECTED = {
    "generate_image_grid": True, "prompt": "p-prompt", "negative_prompt": "n-prompt",
    "style_selections": ["Fooocus V2", "Fooocus Sharp"], "performance_selection": "Lightning",
    "steps": 4, "image_number": 3, "output_format": "webp", "seed": 123456789,
    "read_wildcards_in_order": True, "sharpness": 7.5, "cfg_scale": 5.5,
    "refiner_model_name": "None", "refiner_switch": 0.55,
    "loras": [["sdxl_lcm_lora.safetensors", 0.25]],
    "input_image_checkbox": True, "current_tab": "uov", "uov_method": "Vary (Strong)",
    "uov_input_image": {"shape": [24, 40, 3]}, "outpaint_selections": ["Left", "Top"],
    "inpaint_input_image": None, "inpaint_additional_prompt": "i-prompt",
    "inpaint_mask_image_upload": None,
    "disable_preview": True, "disable_intermediate_results": True,
    "disable_seed_increment": True, "black_out_nsfw": True, "adm_scaler_positive": 1.25,
    "adm_scaler_negative": 0.75, "adm_scaler_end": 0.4, "adaptive_cfg": 6.5, "clip_skip": 3,
    "sampler_name": "euler_ancestral", "scheduler_name": "sgm_uniform",
    "vae_name": "Default (model)", "overwrite_step": 11, "overwrite_switch": 12,
    "overwrite_width": 512, "overwrite_height": 640, "overwrite_vary_strength": 0.33,
    "overwrite_upscale_strength": 0.44, "mixing_image_prompt_and_vary_upscale": True,
    "mixing_image_prompt_and_inpaint": True, "debugging_cn_preprocessor": True,
    "skipping_cn_preprocessor": True, "canny_low_threshold": 11, "canny_high_threshold": 222,
    "refiner_swap_method": "vae", "controlnet_softness": 0.35, "freeu_enabled": True,
    "freeu_b1": 1.1, "freeu_b2": 1.2, "freeu_s1": 0.8, "freeu_s2": 0.7,
    "debugging_inpaint_preprocessor": True, "inpaint_disable_initial_latent": True,
    "inpaint_engine": "v2.5", "inpaint_strength": 0.66, "inpaint_respective_field": 0.77,
    "inpaint_advanced_masking_checkbox": True, "invert_mask_checkbox": True,
    "inpaint_erode_or_dilate": 5,
    "cn_tasks": {"ImagePrompt": [], "PyraCanny": [[{"shape": [16, 16, 3]}, 0.3, 1.4]],
                 "CPDS": [], "FaceSwap": []},
    "debugging_dino": True, "dino_erode_or_dilate": -3, "debugging_enhance_masks_checkbox": True,
    "enhance_input_image": None, "enhance_checkbox": True, "enhance_uov_method": "Upscale (1.5x)",
    "enhance_uov_processing_order": "After Last Enhancement",
    "enhance_uov_prompt_type": "Last Filled Enhancement Prompts",
    "enhance_ctrls": [["face", "e-prompt", "e-neg", "u2net", "upper", "vit_l", 0.2, 0.35, 4, True,
                       "v1", 0.9, 0.5, 2, True]],
    "should_enhance": True,
}


def fooocus_targets() -> list[tuple[str, str]]:
    targets = [("stand-in", str(STANDIN), sys.executable)]
    if os.environ.get("FOOOCUS_DIR") and os.environ.get("FOOOCUS_PY"):
        targets.append(("real", os.environ["FOOOCUS_DIR"], os.environ["FOOOCUS_PY"]))
    return [pytest.param(directory, python, id=name) for name, directory, python in targets]


def machine_flags(fooocus_dir: str) -> list[str]:
    """Real Fooocus on a machine without a GPU needs FOOOCUS_FLAGS='--always-cpu'."""
    if fooocus_dir == str(STANDIN):
        return []
    return os.environ.get("FOOOCUS_FLAGS", "").split()


def task_attributes(fooocus_dir: str, python: str, request: dict, flags: list[str]) -> dict:
    flags = [*machine_flags(fooocus_dir), *flags]
    run = subprocess.run([python, str(PROBE), fooocus_dir, json.dumps(request), *flags],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("fooocus_dir, python", fooocus_targets())
@pytest.mark.parametrize("flags", FLAG_SETS, ids=lambda flags: " ".join(flags) or "no flags")
def test_every_field_lands_on_its_asynctask_attribute(fooocus_dir, python, flags):
    attributes = task_attributes(fooocus_dir, python, REQUEST, flags)

    mismatches = {name: (attributes.get(name, "<missing>"), value)
                  for name, value in EXPECTED.items() if attributes.get(name, "<missing>") != value}
    assert mismatches == {}


@pytest.mark.parametrize("fooocus_dir, python", fooocus_targets())
@pytest.mark.parametrize("flags", FLAG_SETS, ids=lambda flags: " ".join(flags) or "no flags")
def test_save_options_follow_the_flags_that_remove_them_from_ctrls(fooocus_dir, python, flags):
    attributes = task_attributes(fooocus_dir, python, REQUEST, flags)

    image_log = "--disable-image-log" not in flags
    metadata = "--disable-metadata" not in flags
    assert attributes["save_final_enhanced_image_only"] is image_log
    assert attributes["save_metadata_to_images"] is metadata
    assert attributes["metadata_scheme"] == ("a1111" if metadata else "fooocus")


@pytest.mark.parametrize("fooocus_dir, python", fooocus_targets())
def test_argument_list_length_matches_ctrls_for_each_flag_set(fooocus_dir, python):
    counts = [task_attributes(fooocus_dir, python, {"prompt": "x"}, flags)["argument_count"]
              for flags in FLAG_SETS]

    assert counts[0] - counts[1] == 1
    assert counts[0] - counts[2] == 2
    assert counts[0] - counts[3] == 3


@pytest.mark.parametrize("fooocus_dir, python", fooocus_targets())
def test_an_empty_request_gets_the_ui_defaults(fooocus_dir, python):
    attributes = task_attributes(fooocus_dir, python, {}, [])

    assert attributes["current_tab"] == "uov"
    assert attributes["input_image_checkbox"] is False
    assert attributes["uov_method"] == "Disabled"
    assert attributes["enhance_ctrls"] == []
    assert attributes["cn_tasks"] == {"ImagePrompt": [], "PyraCanny": [], "CPDS": [],
                                      "FaceSwap": []}
    assert 0 <= attributes["seed"] <= 2**63 - 1


def test_inpaint_image_and_mask_reach_the_worker_as_the_sketch_tool_hands_them():
    request = {"inpaint_input_image": png_base64(32, 24, (1, 2, 3)),
               "inpaint_mask_image_upload": png_base64(16, 12, (255, 255, 255))}

    attributes = task_attributes(str(STANDIN), sys.executable, request, [])

    assert attributes["current_tab"] == "inpaint"
    assert attributes["inpaint_input_image"] == {"image": {"shape": [24, 32, 3]},
                                                 "mask": {"shape": [24, 32, 3]}}
