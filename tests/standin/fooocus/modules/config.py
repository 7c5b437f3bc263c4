"""Fooocus 2.5.5's settings as a fresh install (no config.txt) sees them.

Each setting starts from Fooocus's built-in default, then presets/default.json,
then the file named by --preset. Model lists come from <root>/models, where
zero-byte placeholders named like the default models are created on import.
"""
from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Any
from collections.abc import Sequence

import args_manager
import modules.flags
import modules.sdxl_styles  # noqa: F401  (imported by Fooocus's config too)
from modules.flags import MetadataScheme, Performance

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
PRESETS_FOLDER = ROOT / 'presets'
# $FOOOCUS_STANDIN_MODELS gives a test its own models folder (to leave files out).
MODELS_FOLDER = Path(os.environ.get('FOOOCUS_STANDIN_MODELS') or ROOT / 'models')
MODEL_EXTENSIONS = ['.pth', '.ckpt', '.bin', '.safetensors', '.fooocus.patch']

MODEL_PLACEHOLDERS = {
    'checkpoints': ['juggernautXL_v8Rundiffusion.safetensors', 'standin_anime_xl.safetensors'],
    'loras': [
        'sd_xl_offset_example-lora_1.0.safetensors', 'sdxl_lightning_4step_lora.safetensors',
        'sdxl_lcm_lora.safetensors', 'sdxl_hyper_sd_4step_lora.safetensors',
    ],
    'vae': ['sdxl_vae.safetensors'],
    # What Fooocus 2.5.5 downloads on first use (upscale, inpaint, image prompts,
    # enhance and mask models, describe, safety checker).
    'upscale_models': ['fooocus_upscaler_s409985e5.bin'],
    'inpaint': [
        'fooocus_inpaint_head.pth', 'inpaint.fooocus.patch', 'inpaint_v25.fooocus.patch',
        'inpaint_v26.fooocus.patch', 'groundingdino_swint_ogc.pth', 'u2net.onnx', 'u2netp.onnx',
        'u2net_human_seg.onnx', 'u2net_cloth_seg.onnx', 'silueta.onnx', 'isnet-general-use.onnx',
        'isnet-anime.onnx',
    ],
    'controlnet': [
        'control-lora-canny-rank128.safetensors', 'fooocus_xl_cpds_128.safetensors',
        'fooocus_ip_negative.safetensors', 'ip-adapter-plus_sdxl_vit-h.bin',
        'ip-adapter-plus-face_sdxl_vit-h.bin', 'detection_Resnet50_Final.pth',
        'parsing_parsenet.pth',
    ],
    'clip_vision': [
        'clip_vision_vit_h.safetensors', 'model_base_caption_capfilt_large.pth',
        'wd-v1-4-moat-tagger-v2.onnx', 'wd-v1-4-moat-tagger-v2.csv',
    ],
    'sam': ['sam_vit_b_01ec64.pth', 'sam_vit_l_0b3195.pth', 'sam_vit_h_4b8939.pth'],
    'safety_checker': ['stable-diffusion-safety-checker.bin'],
}

# The default_value each setting has in Fooocus's config.py, before any preset.
BUILTIN_DEFAULTS: dict[str, Any] = {
    'temp_path_cleanup_on_launch': True,
    'default_model': 'model.safetensors',
    'previous_default_models': [],
    'default_refiner': 'None',
    'default_refiner_switch': 0.8,
    'default_loras_min_weight': -2,
    'default_loras_max_weight': 2,
    'default_loras': [[True, 'None', 1.0] for _ in range(5)],
    'default_cfg_scale': 7.0,
    'default_sample_sharpness': 2.0,
    'default_sampler': 'dpmpp_2m_sde_gpu',
    'default_scheduler': 'karras',
    'default_vae': modules.flags.default_vae,
    'default_styles': ['Fooocus V2', 'Fooocus Enhance', 'Fooocus Sharp'],
    'default_prompt_negative': '',
    'default_prompt': '',
    'default_performance': Performance.SPEED.value,
    'default_image_prompt_checkbox': False,
    'default_enhance_checkbox': False,
    'default_advanced_checkbox': False,
    'default_developer_debug_mode_checkbox': False,
    'default_image_prompt_advanced_checkbox': False,
    'default_max_image_number': 32,
    'default_output_format': 'png',
    'default_image_number': 2,
    'checkpoint_downloads': {},
    'lora_downloads': {},
    'embeddings_downloads': {},
    'vae_downloads': {},
    'available_aspect_ratios': modules.flags.sdxl_aspect_ratios,
    'default_aspect_ratio': '1152*896',
    'default_inpaint_engine_version': 'v2.6',
    'default_selected_image_input_tab_id': modules.flags.default_input_image_tab,
    'default_uov_method': modules.flags.disabled,
    'default_controlnet_image_count': 4,
    'default_inpaint_advanced_masking_checkbox': False,
    'default_inpaint_method': modules.flags.inpaint_option_default,
    'default_cfg_tsnr': 7.0,
    'default_clip_skip': 2,
    'default_overwrite_step': -1,
    'default_overwrite_switch': -1,
    'default_overwrite_upscale': -1,
    'example_inpaint_prompts': [
        'highly detailed face', 'detailed girl face', 'detailed man face', 'detailed hand',
        'beautiful eyes',
    ],
    'example_enhance_detection_prompts': ['face', 'eye', 'mouth', 'hair', 'hand', 'body'],
    'default_enhance_tabs': 3,
    'default_enhance_uov_method': modules.flags.disabled,
    'default_enhance_uov_processing_order': modules.flags.enhancement_uov_before,
    'default_enhance_uov_prompt_type': modules.flags.enhancement_uov_prompt_type_original,
    'default_sam_max_detections': 0,
    'default_black_out_nsfw': False,
    'default_save_only_final_enhanced_image': False,
    'default_save_metadata_to_images': False,
    'default_metadata_scheme': MetadataScheme.FOOOCUS.value,
    'metadata_created_by': '',
    'default_invert_mask_checkbox': False,
    'default_inpaint_mask_model': 'isnet-general-use',
    'default_enhance_inpaint_mask_model': 'sam',
    'default_inpaint_mask_cloth_category': 'full',
    'default_inpaint_mask_sam_model': 'vit_b',
    'default_describe_apply_prompts_checkbox': True,
    'default_describe_content_type': [modules.flags.describe_type_photo],
}


def get_presets() -> list[str]:
    if not PRESETS_FOLDER.is_dir():
        return ['initial']
    return ['initial'] + sorted(path.stem for path in PRESETS_FOLDER.glob('*.json'))


def update_presets() -> None:
    global available_presets
    available_presets = get_presets()


def try_get_preset_content(preset: str | None) -> dict[str, Any]:
    """The preset's settings, or {} when it is not a name or cannot be read."""
    if not isinstance(preset, str):
        return {}

    path = PRESETS_FOLDER / f'{preset}.json'
    try:
        with path.open(encoding='utf-8') as file:
            content = json.load(file)
    except (OSError, ValueError) as error:
        logger.warning('Load preset [%s] failed: %s', path, error)
        return {}

    logger.info('Loaded preset: %s', path)
    return content


def add_ratio(x: str) -> str:
    """'1152*896' -> the radio label Fooocus shows, with the reduced ratio after it."""
    width, height = (int(part) for part in x.replace('*', ' ').split(' ')[:2])
    divisor = math.gcd(width, height)
    ratio = f'{width // divisor}:{height // divisor}'
    return f'{width}×{height} <span style="color: grey;"> \u2223 {ratio}</span>'


def normalize_loras(loras: list[Sequence[Any]], count: int) -> list[Sequence[Any]]:
    """Accept [name, weight] entries as enabled ones, then pad or cut to `count`."""
    triples: list[Sequence[Any]] = [
        (lora[0], lora[1], lora[2]) if len(lora) == 3 else (True, lora[0], lora[1])
        for lora in loras
    ]
    return triples[:count] + [[True, 'None', 1.0] for _ in range(count - len(triples))]


def ensure_model_placeholders() -> None:
    for folder, filenames in MODEL_PLACEHOLDERS.items():
        (MODELS_FOLDER / folder).mkdir(parents=True, exist_ok=True)
        for filename in filenames:
            (MODELS_FOLDER / folder / filename).touch(exist_ok=True)


def model_folder(name: str) -> str:
    path = MODELS_FOLDER / name
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def get_path_output() -> str:
    """<root>/outputs, or $FOOOCUS_STANDIN_OUTPUTS; --output-path wins over both."""
    path = args_manager.args.output_path or os.environ.get('FOOOCUS_STANDIN_OUTPUTS')
    path = os.path.abspath(path) if path else str(ROOT / 'outputs')
    os.makedirs(path, exist_ok=True)
    return path


def get_temp_path() -> str:
    path = args_manager.args.temp_path or os.path.join(tempfile.gettempdir(), 'fooocus')
    path = os.path.abspath(path)
    os.makedirs(path, exist_ok=True)
    return path


def get_model_filenames(folder_paths: str | list[str], extensions: list[str] | None = None,
                        name_filter: str | None = None) -> list[str]:
    """Model files below the folders, as paths relative to their folder."""
    folders = folder_paths if isinstance(folder_paths, list) else [folder_paths]
    found: list[str] = []
    for folder in folders:
        found += files_in_folder(folder, extensions or MODEL_EXTENSIONS, name_filter)
    return found


def files_in_folder(folder: str, extensions: list[str], name_filter: str | None) -> list[str]:
    found = []
    for directory, _, filenames in os.walk(folder, topdown=False):
        relative = os.path.relpath(directory, folder)
        for filename in sorted(filenames, key=str.casefold):
            stem, extension = os.path.splitext(filename)
            if extension.lower() not in extensions:
                continue
            if name_filter is not None and name_filter not in stem:
                continue
            found.append(filename if relative == '.' else os.path.join(relative, filename))
    return found


def image_prompt_defaults(count: int) -> tuple[dict[int, Any], dict[int, str],
                                                 dict[int, float], dict[int, float]]:
    """Per image prompt slot (1-based): default image, type, stop at and weight."""
    images, types, stop_ats, weights = {}, {}, {}, {}
    for number in range(1, count + 1):
        image = config_dict.get(f'default_ip_image_{number}', 'None')
        images[number] = None if image == 'None' else image
        types[number] = config_dict.get(f'default_ip_type_{number}', modules.flags.default_ip)
        stop_at, weight = modules.flags.default_parameters[types[number]]
        stop_ats[number] = config_dict.get(f'default_ip_stop_at_{number}', stop_at)
        weights[number] = config_dict.get(f'default_ip_weight_{number}', weight)
    return images, types, stop_ats, weights


def update_files() -> None:
    global model_filenames, lora_filenames, vae_filenames, wildcard_filenames, available_presets
    model_filenames = get_model_filenames(paths_checkpoints)
    lora_filenames = get_model_filenames(paths_loras)
    vae_filenames = get_model_filenames(path_vae)
    wildcard_filenames = files_in_folder(path_wildcards, ['.txt'], None)
    available_presets = get_presets()


config_dict: dict[str, Any] = dict(BUILTIN_DEFAULTS)
config_dict.update(try_get_preset_content('default'))
available_presets = get_presets()
preset = args_manager.args.preset
config_dict.update(try_get_preset_content(preset))

ensure_model_placeholders()
paths_checkpoints = [model_folder('checkpoints')]
paths_loras = [model_folder('loras')]
path_embeddings = model_folder('embeddings')
path_vae_approx = model_folder('vae_approx')
path_vae = model_folder('vae')
path_upscale_models = model_folder('upscale_models')
path_inpaint = model_folder('inpaint')
path_controlnet = model_folder('controlnet')
path_clip_vision = model_folder('clip_vision')
path_fooocus_expansion = model_folder('prompt_expansion/fooocus_expansion')
path_safety_checker = model_folder('safety_checker')
path_sam = model_folder('sam')
path_wildcards = str(ROOT / 'wildcards')
path_outputs = get_path_output()
temp_path = get_temp_path()
temp_path_cleanup_on_launch = config_dict['temp_path_cleanup_on_launch']

default_base_model_name = default_model = config_dict['default_model']
previous_default_models = config_dict['previous_default_models']
default_refiner_model_name = default_refiner = config_dict['default_refiner']
default_refiner_switch = config_dict['default_refiner_switch']
default_loras_min_weight = config_dict['default_loras_min_weight']
default_loras_max_weight = config_dict['default_loras_max_weight']
default_max_lora_number = (config_dict.get('default_max_lora_number')
                           or len(config_dict['default_loras']) or 5)
default_loras = normalize_loras(config_dict['default_loras'], default_max_lora_number)
config_dict['default_loras'] = default_loras
default_cfg_scale = config_dict['default_cfg_scale']
default_sample_sharpness = config_dict['default_sample_sharpness']
default_sampler = config_dict['default_sampler']
default_scheduler = config_dict['default_scheduler']
default_vae = config_dict['default_vae']
default_styles = config_dict['default_styles']
default_prompt_negative = config_dict['default_prompt_negative']
default_prompt = config_dict['default_prompt']
default_performance = config_dict['default_performance']
default_image_prompt_checkbox = config_dict['default_image_prompt_checkbox']
default_enhance_checkbox = config_dict['default_enhance_checkbox']
default_advanced_checkbox = config_dict['default_advanced_checkbox']
default_developer_debug_mode_checkbox = config_dict['default_developer_debug_mode_checkbox']
default_image_prompt_advanced_checkbox = config_dict['default_image_prompt_advanced_checkbox']
default_max_image_number = config_dict['default_max_image_number']
default_output_format = config_dict['default_output_format']
default_image_number = config_dict['default_image_number']
checkpoint_downloads = config_dict['checkpoint_downloads']
lora_downloads = config_dict['lora_downloads']
embeddings_downloads = config_dict['embeddings_downloads']
vae_downloads = config_dict['vae_downloads']
available_aspect_ratios = config_dict['available_aspect_ratios']
available_aspect_ratios_labels = [add_ratio(ratio) for ratio in available_aspect_ratios]
default_aspect_ratio = add_ratio(config_dict['default_aspect_ratio'])
default_inpaint_engine_version = config_dict['default_inpaint_engine_version']
default_selected_image_input_tab_id = config_dict['default_selected_image_input_tab_id']
default_uov_method = config_dict['default_uov_method']

default_controlnet_image_count = config_dict['default_controlnet_image_count']
default_ip_images, default_ip_types, default_ip_stop_ats, default_ip_weights = (
    image_prompt_defaults(default_controlnet_image_count))

default_inpaint_advanced_masking_checkbox = config_dict['default_inpaint_advanced_masking_checkbox']
default_inpaint_method = config_dict['default_inpaint_method']
default_cfg_tsnr = config_dict['default_cfg_tsnr']
default_clip_skip = config_dict['default_clip_skip']
default_overwrite_step = config_dict['default_overwrite_step']
default_overwrite_switch = config_dict['default_overwrite_switch']
default_overwrite_upscale = config_dict['default_overwrite_upscale']
example_inpaint_prompts = [[prompt] for prompt in config_dict['example_inpaint_prompts']]
example_enhance_detection_prompts = [
    [prompt] for prompt in config_dict['example_enhance_detection_prompts']]
default_enhance_tabs = config_dict['default_enhance_tabs']
default_enhance_uov_method = config_dict['default_enhance_uov_method']
default_enhance_uov_processing_order = config_dict['default_enhance_uov_processing_order']
default_enhance_uov_prompt_type = config_dict['default_enhance_uov_prompt_type']
default_sam_max_detections = config_dict['default_sam_max_detections']
default_black_out_nsfw = config_dict['default_black_out_nsfw']
default_save_only_final_enhanced_image = config_dict['default_save_only_final_enhanced_image']
default_save_metadata_to_images = config_dict['default_save_metadata_to_images']
default_metadata_scheme = config_dict['default_metadata_scheme']
metadata_created_by = config_dict['metadata_created_by']
default_invert_mask_checkbox = config_dict['default_invert_mask_checkbox']
default_inpaint_mask_model = config_dict['default_inpaint_mask_model']
default_enhance_inpaint_mask_model = config_dict['default_enhance_inpaint_mask_model']
default_inpaint_mask_cloth_category = config_dict['default_inpaint_mask_cloth_category']
default_inpaint_mask_sam_model = config_dict['default_inpaint_mask_sam_model']
default_describe_apply_prompts_checkbox = config_dict['default_describe_apply_prompts_checkbox']
default_describe_content_type = config_dict['default_describe_content_type']

model_filenames: list[str] = []
lora_filenames: list[str] = []
vae_filenames: list[str] = []
wildcard_filenames: list[str] = []
