"""The Fooocus 2.5.5 stand-in's contract: what a client of Fooocus may rely on.

The argument layout below is read off Fooocus 2.5.5's AsyncTask.__init__ and
webui.py's `ctrls`; it is the list a client must build, in this order.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

STANDIN_ROOT = Path(__file__).resolve().parent / 'fooocus'

HEAD_FIELDS = [
    'generate_image_grid', 'prompt', 'negative_prompt', 'style_selections',
    'performance_selection', 'aspect_ratios_selection', 'image_number', 'output_format', 'seed',
    'read_wildcards_in_order', 'sharpness', 'cfg_scale', 'base_model_name', 'refiner_model_name',
    'refiner_switch',
]
LORA_FIELDS = ['lora_enabled', 'lora_model', 'lora_weight']
MIDDLE_FIELDS = [
    'input_image_checkbox', 'current_tab', 'uov_method', 'uov_input_image', 'outpaint_selections',
    'inpaint_input_image', 'inpaint_additional_prompt', 'inpaint_mask_image_upload',
    'disable_preview', 'disable_intermediate_results', 'disable_seed_increment', 'black_out_nsfw',
    'adm_scaler_positive', 'adm_scaler_negative', 'adm_scaler_end', 'adaptive_cfg', 'clip_skip',
    'sampler_name', 'scheduler_name', 'vae_name', 'overwrite_step', 'overwrite_switch',
    'overwrite_width', 'overwrite_height', 'overwrite_vary_strength',
    'overwrite_upscale_strength', 'mixing_image_prompt_and_vary_upscale',
    'mixing_image_prompt_and_inpaint', 'debugging_cn_preprocessor', 'skipping_cn_preprocessor',
    'canny_low_threshold', 'canny_high_threshold', 'refiner_swap_method', 'controlnet_softness',
    'freeu_enabled', 'freeu_b1', 'freeu_b2', 'freeu_s1', 'freeu_s2',
    'debugging_inpaint_preprocessor', 'inpaint_disable_initial_latent', 'inpaint_engine',
    'inpaint_strength', 'inpaint_respective_field', 'inpaint_advanced_masking_checkbox',
    'invert_mask_checkbox', 'inpaint_erode_or_dilate',
]
IMAGE_LOG_FIELDS = ['save_final_enhanced_image_only']
METADATA_FIELDS = ['save_metadata_to_images', 'metadata_scheme']
IP_FIELDS = ['ip_image', 'ip_stop', 'ip_weight', 'ip_type']
ENHANCE_HEAD_FIELDS = [
    'debugging_dino', 'dino_erode_or_dilate', 'debugging_enhance_masks_checkbox',
    'enhance_input_image', 'enhance_checkbox', 'enhance_uov_method',
    'enhance_uov_processing_order', 'enhance_uov_prompt_type',
]
ENHANCE_TAB_FIELDS = [
    'enhance_enabled', 'enhance_mask_dino_prompt_text', 'enhance_prompt',
    'enhance_negative_prompt', 'enhance_mask_model', 'enhance_mask_cloth_category',
    'enhance_mask_sam_model', 'enhance_mask_text_threshold', 'enhance_mask_box_threshold',
    'enhance_mask_sam_max_detections', 'enhance_inpaint_disable_initial_latent',
    'enhance_inpaint_engine', 'enhance_inpaint_strength', 'enhance_inpaint_respective_field',
    'enhance_inpaint_erode_or_dilate', 'enhance_mask_invert',
]
ASPECT_1152_896 = '1152×896 <span style="color: grey;"> \u2223 9:7</span>'

# A quick, valid task; grouped fields are named like 'lora_model#2'.
QUICK_VALUES: dict[str, Any] = {
    'generate_image_grid': False, 'prompt': 'a red fox', 'negative_prompt': '',
    'style_selections': ['Fooocus V2', 'Fooocus Sharp'], 'performance_selection': 'Lightning',
    'aspect_ratios_selection': ASPECT_1152_896, 'image_number': 1, 'output_format': 'png',
    'seed': '42', 'read_wildcards_in_order': False, 'sharpness': 2.0, 'cfg_scale': 4.0,
    'base_model_name': 'juggernautXL_v8Rundiffusion.safetensors', 'refiner_model_name': 'None',
    'refiner_switch': 0.5, 'lora_enabled': True, 'lora_model': 'None', 'lora_weight': 1.0,
    'input_image_checkbox': False, 'current_tab': 'uov', 'uov_method': 'Disabled',
    'uov_input_image': None, 'outpaint_selections': [], 'inpaint_input_image': None,
    'inpaint_additional_prompt': '', 'inpaint_mask_image_upload': None, 'disable_preview': False,
    'disable_intermediate_results': False, 'disable_seed_increment': False,
    'black_out_nsfw': False, 'adm_scaler_positive': 1.5, 'adm_scaler_negative': 0.8,
    'adm_scaler_end': 0.3, 'adaptive_cfg': 7.0, 'clip_skip': 2,
    'sampler_name': 'dpmpp_2m_sde_gpu', 'scheduler_name': 'karras', 'vae_name': 'Default (model)',
    'overwrite_step': -1, 'overwrite_switch': -1, 'overwrite_width': -1, 'overwrite_height': -1,
    'overwrite_vary_strength': -1, 'overwrite_upscale_strength': -1,
    'mixing_image_prompt_and_vary_upscale': False, 'mixing_image_prompt_and_inpaint': False,
    'debugging_cn_preprocessor': False, 'skipping_cn_preprocessor': False,
    'canny_low_threshold': 64, 'canny_high_threshold': 128, 'refiner_swap_method': 'joint',
    'controlnet_softness': 0.25, 'freeu_enabled': False, 'freeu_b1': 1.01, 'freeu_b2': 1.02,
    'freeu_s1': 0.99, 'freeu_s2': 0.95, 'debugging_inpaint_preprocessor': False,
    'inpaint_disable_initial_latent': False, 'inpaint_engine': 'v2.6', 'inpaint_strength': 1.0,
    'inpaint_respective_field': 0.618, 'inpaint_advanced_masking_checkbox': False,
    'invert_mask_checkbox': False, 'inpaint_erode_or_dilate': 0,
    'save_final_enhanced_image_only': False, 'save_metadata_to_images': False,
    'metadata_scheme': 'fooocus', 'ip_image': None, 'ip_stop': 0.5, 'ip_weight': 0.6,
    'ip_type': 'ImagePrompt', 'debugging_dino': False, 'dino_erode_or_dilate': 0,
    'debugging_enhance_masks_checkbox': False, 'enhance_input_image': None,
    'enhance_checkbox': False, 'enhance_uov_method': 'Disabled',
    'enhance_uov_processing_order': 'Before First Enhancement',
    'enhance_uov_prompt_type': 'Original Prompts', 'enhance_enabled': False,
    'enhance_mask_dino_prompt_text': '', 'enhance_prompt': '', 'enhance_negative_prompt': '',
    'enhance_mask_model': 'sam', 'enhance_mask_cloth_category': 'full',
    'enhance_mask_sam_model': 'vit_b', 'enhance_mask_text_threshold': 0.25,
    'enhance_mask_box_threshold': 0.3, 'enhance_mask_sam_max_detections': 0,
    'enhance_inpaint_disable_initial_latent': False, 'enhance_inpaint_engine': 'v2.6',
    'enhance_inpaint_strength': 1.0, 'enhance_inpaint_respective_field': 0.618,
    'enhance_inpaint_erode_or_dilate': 0, 'enhance_mask_invert': False,
}


def grouped(fields: list[str], count: int) -> list[str]:
    return [f'{field}#{number}' for number in range(1, count + 1) for field in fields]


def layout(loras: int = 5, image_log: bool = True, metadata: bool = True) -> list[str]:
    """Field names of AsyncTask's argument list, in order (4 image prompts, 3 enhance tabs)."""
    names = HEAD_FIELDS + grouped(LORA_FIELDS, loras) + MIDDLE_FIELDS
    names += IMAGE_LOG_FIELDS if image_log else []
    names += METADATA_FIELDS if metadata else []
    return names + grouped(IP_FIELDS, 4) + ENHANCE_HEAD_FIELDS + grouped(ENHANCE_TAB_FIELDS, 3)


def layout_for(flags: tuple[str, ...]) -> list[str]:
    return layout(image_log='--disable-image-log' not in flags,
                  metadata='--disable-metadata' not in flags)


def task_args(names: list[str] | None = None, **values: Any) -> list[Any]:
    names = layout() if names is None else names
    return [values.get(name, QUICK_VALUES[name.split('#')[0]]) for name in names]


def run_to_finish(fooocus: SimpleNamespace, task: Any, timeout: float = 20.0) -> list[list[Any]]:
    fooocus.worker.async_tasks.append(task)
    wait_for(lambda: bool(task.yields) and task.yields[-1][0] == 'finish', timeout)
    return task.yields


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, 'timed out'
        time.sleep(0.002)


def kinds(yields: list[list[Any]]) -> list[str]:
    return [flag for flag, _ in yields]


def titles(yields: list[list[Any]]) -> list[str]:
    return [product[1] for flag, product in yields if flag == 'preview']


def finished_paths(yields: list[list[Any]]) -> list[Any]:
    flag, product = yields[-1]
    assert flag == 'finish'
    return product


# --- args -----------------------------------------------------------------------------------

def test_fooocus_flags_have_fooocus_defaults(load_fooocus):
    args = load_fooocus().args_manager.args

    assert (args.listen, args.port, args.preset) == ('127.0.0.1', None, None)
    assert args.language == 'default' and args.rebuild_hash_cache is None
    assert args.in_browser is True and args.disable_cuda_malloc is True
    assert args.always_offload_from_vram is True and args.output_path is None
    assert args.disable_image_log is False and args.disable_metadata is False


def test_listen_without_address_means_all_interfaces(load_fooocus):
    fooocus = load_fooocus('--listen', '--port', '7000', '--disable-in-browser')

    args = fooocus.args_manager.args
    assert (args.listen, args.port, args.in_browser) == ('0.0.0.0', 7000, False)


def test_backend_flags_are_accepted(load_fooocus):
    fooocus = load_fooocus('--always-cpu', '--unet-in-bf16', '--gpu-device-id', '1',
                           '--hf-mirror', 'https://mirror.invalid', '--rebuild-hash-cache')

    args = fooocus.args_manager.args
    assert (args.always_cpu, args.unet_in_bf16, args.gpu_device_id) == (-1, True, 1)
    assert (args.hf_mirror, args.rebuild_hash_cache) == ('https://mirror.invalid', -1)


def test_unknown_flag_is_an_argparse_error(load_fooocus):
    with pytest.raises(SystemExit) as exit_info:
        load_fooocus('--no-such-flag')

    assert exit_info.value.code == 2


def test_backend_parser_alone_does_not_read_argv(load_fooocus, monkeypatch):
    load_fooocus()
    monkeypatch.setattr(sys, 'argv', ['launch.py', '--no-such-flag'])
    sys.modules.pop('ldm_patched.modules.args_parser')

    import ldm_patched.modules.args_parser as args_parser

    assert (args_parser.args.port, args_parser.args.listen) == (8188, '127.0.0.1')


# --- flags, util, model_management ----------------------------------------------------------

def test_performance_matches_fooocus(load_fooocus):
    Performance = load_fooocus().flags.Performance

    assert Performance.values() == ['Quality', 'Speed', 'Extreme Speed', 'Lightning', 'Hyper-SD']
    assert Performance.list()[0] == ('QUALITY', 'Quality')
    assert [p.steps() for p in Performance] == [60, 30, 8, 4, 4]
    assert [p.steps_uov() for p in Performance] == [36, 18, 8, 4, 4]
    assert Performance.SPEED.lora_filename() is None
    assert Performance.LIGHTNING.lora_filename() == 'sdxl_lightning_4step_lora.safetensors'
    assert Performance.has_restricted_features('Hyper-SD')
    assert not Performance.has_restricted_features(Performance.SPEED)
    assert Performance.by_steps(8) is Performance.EXTREME_SPEED


def test_choice_lists_match_fooocus(load_fooocus):
    flags = load_fooocus().flags

    assert flags.uov_list == ['Disabled', 'Vary (Subtle)', 'Vary (Strong)', 'Upscale (1.5x)',
                              'Upscale (2x)', 'Upscale (Fast 2x)']
    assert flags.ip_list == ['ImagePrompt', 'PyraCanny', 'CPDS', 'FaceSwap']
    assert len(flags.sampler_list) == 24 and flags.sampler_list[-1] == 'uni_pc_bh2'
    assert len(flags.scheduler_list) == 11 and flags.scheduler_list[-1] == 'edm_playground_v2.5'
    assert flags.OutputFormat.list() == ['png', 'jpeg', 'webp']
    assert flags.metadata_scheme == [('fooocus (json)', 'fooocus'),
                                     ('a1111 (plain text)', 'a1111')]
    assert flags.inpaint_engine_versions == ['None', 'v1', 'v2.5', 'v2.6']
    assert len(flags.sdxl_aspect_ratios) == 26 and '1152*896' in flags.sdxl_aspect_ratios


def test_get_enabled_loras_keeps_enabled_named_ones(load_fooocus):
    get_enabled_loras = load_fooocus().util.get_enabled_loras
    loras = [(True, 'a.safetensors', 0.5), (False, 'b.safetensors', 1.0), (True, 'None', 1.0)]

    assert get_enabled_loras(loras) == [('a.safetensors', 0.5)]
    assert get_enabled_loras(loras, remove_none=False) == [('a.safetensors', 0.5), ('None', 1.0)]


def test_interrupt_raises_once_and_clears_the_flag(load_fooocus):
    mm = load_fooocus().model_management

    mm.interrupt_current_processing()
    assert mm.processing_interrupted() is True
    with pytest.raises(mm.InterruptProcessingException):
        mm.throw_exception_if_processing_interrupted()

    assert mm.processing_interrupted() is False
    mm.throw_exception_if_processing_interrupted()


# --- config ---------------------------------------------------------------------------------

FRESH_INSTALL_DEFAULTS = {
    'default_base_model_name': 'juggernautXL_v8Rundiffusion.safetensors',
    'default_loras': [(True, 'sd_xl_offset_example-lora_1.0.safetensors', 0.1)]
    + [(True, 'None', 1.0)] * 4,
    'default_max_lora_number': 5, 'default_loras_min_weight': -2, 'default_loras_max_weight': 2,
    'default_cfg_scale': 4.0, 'default_sample_sharpness': 2.0, 'default_cfg_tsnr': 7.0,
    'default_refiner_model_name': 'None', 'default_refiner_switch': 0.5,
    'default_performance': 'Speed', 'default_image_number': 2, 'default_max_image_number': 32,
    'default_sampler': 'dpmpp_2m_sde_gpu', 'default_scheduler': 'karras',
    'default_vae': 'Default (model)',
    'default_styles': ['Fooocus V2', 'Fooocus Enhance', 'Fooocus Sharp'],
    'default_prompt': '', 'default_prompt_negative': '', 'default_output_format': 'png',
    'default_aspect_ratio': ASPECT_1152_896,
    'default_controlnet_image_count': 4, 'default_enhance_tabs': 3, 'default_clip_skip': 2,
    'default_ip_images': {1: None, 2: None, 3: None, 4: None},
    'default_ip_types': {n: 'ImagePrompt' for n in range(1, 5)},
    'default_ip_stop_ats': {n: 0.5 for n in range(1, 5)},
    'default_ip_weights': {n: 0.6 for n in range(1, 5)},
    'default_overwrite_step': -1, 'default_overwrite_switch': -1, 'default_overwrite_upscale': -1,
    'default_inpaint_engine_version': 'v2.6',
    'default_inpaint_method': 'Inpaint or Outpaint (default)',
    'default_inpaint_mask_model': 'isnet-general-use', 'default_enhance_inpaint_mask_model': 'sam',
    'default_inpaint_mask_cloth_category': 'full', 'default_inpaint_mask_sam_model': 'vit_b',
    'default_uov_method': 'Disabled', 'default_enhance_uov_method': 'Disabled',
    'default_enhance_uov_processing_order': 'Before First Enhancement',
    'default_enhance_uov_prompt_type': 'Original Prompts', 'default_enhance_checkbox': False,
    'default_sam_max_detections': 0, 'default_black_out_nsfw': False,
    'default_save_only_final_enhanced_image': False, 'default_save_metadata_to_images': False,
    'default_metadata_scheme': 'fooocus', 'default_invert_mask_checkbox': False,
    'default_describe_content_type': ['Photograph'],
    'default_describe_apply_prompts_checkbox': True, 'default_image_prompt_checkbox': False,
}


def test_config_has_fresh_install_defaults(load_fooocus):
    config = load_fooocus().config

    assert {key: getattr(config, key) for key in FRESH_INSTALL_DEFAULTS} == FRESH_INSTALL_DEFAULTS


def test_aspect_ratio_labels_are_fooocus_labels(load_fooocus):
    labels = load_fooocus().config.available_aspect_ratios_labels

    assert len(labels) == 26 and ASPECT_1152_896 in labels
    assert labels[0] == '704×1408 <span style="color: grey;"> \u2223 1:2</span>'


def test_update_files_lists_model_placeholders(load_fooocus):
    config = load_fooocus().config
    assert config.model_filenames == []

    config.update_files()

    assert 'juggernautXL_v8Rundiffusion.safetensors' in config.model_filenames
    assert {'sd_xl_offset_example-lora_1.0.safetensors',
            'sdxl_lightning_4step_lora.safetensors'} <= set(config.lora_filenames)
    assert config.vae_filenames == ['sdxl_vae.safetensors']
    assert Path(config.paths_checkpoints[0]) == STANDIN_ROOT / 'models' / 'checkpoints'


def test_presets_are_listed_and_read(load_fooocus):
    config = load_fooocus().config

    assert config.available_presets == ['initial', 'anime', 'default', 'lightning', 'playground_v2.5']
    assert config.try_get_preset_content('lightning')['default_performance'] == 'Lightning'
    assert config.try_get_preset_content('missing') == {}


def test_preset_flag_overrides_defaults(load_fooocus):
    config = load_fooocus('--preset', 'anime').config

    assert (config.default_cfg_scale, config.default_performance) == (6.5, 'Quality')
    assert config.default_max_lora_number == len(config.default_loras) == 4
    assert config.default_loras[:2] == [
        (True, 'sd_xl_offset_example-lora_1.0.safetensors', 0.25), (False, 'None', 1.0),
    ]
    assert config.default_aspect_ratio.startswith('896×1152 ')


def test_outputs_follow_env_then_output_path_flag(load_fooocus, outputs, tmp_path):
    assert load_fooocus().config.path_outputs == str(outputs)
    assert outputs.is_dir()

    flagged = tmp_path / 'flagged'
    assert load_fooocus('--output-path', str(flagged)).config.path_outputs == str(flagged)


# --- AsyncTask ------------------------------------------------------------------------------

CONVERTED_FIELDS = ('performance_selection', 'seed', 'metadata_scheme')


def sentinel_values(names: list[str]) -> dict[str, Any]:
    """A distinct value per field; converted and grouped fields get telling valid values."""
    values: dict[str, Any] = {name: f'<{name}>' for name in names}
    values.update(performance_selection='Extreme Speed', seed='777', metadata_scheme='a1111')
    for slot in range(1, 6):
        values[f'lora_enabled#{slot}'] = int(slot != 2)
        values[f'lora_model#{slot}'] = f'lora{slot}.safetensors'
        values[f'lora_weight#{slot}'] = f'0.{slot}'
    values.update({'ip_image#2': None, 'ip_image#4': None})
    values.update({'ip_type#1': 'PyraCanny', 'ip_type#3': 'FaceSwap'})
    values.update({'enhance_enabled#1': True, 'enhance_enabled#2': False, 'enhance_enabled#3': 1})
    return values


def test_async_task_reads_each_argument_into_its_attribute(load_fooocus):
    fooocus = load_fooocus()
    names = layout()
    values = sentinel_values(names)

    task = fooocus.worker.AsyncTask(args=[values[name] for name in names])

    plain = [name for name in HEAD_FIELDS + MIDDLE_FIELDS + IMAGE_LOG_FIELDS + METADATA_FIELDS
             + ENHANCE_HEAD_FIELDS if name not in CONVERTED_FIELDS]
    assert {name: getattr(task, name) for name in plain} == {name: values[name] for name in plain}
    assert task.performance_selection is fooocus.flags.Performance.EXTREME_SPEED
    assert (task.steps, task.original_steps, task.seed) == (8, 8, 777)
    assert task.metadata_scheme is fooocus.flags.MetadataScheme.A1111
    assert task.loras == [(f'lora{n}.safetensors', float(f'0.{n}')) for n in (1, 3, 4, 5)]
    assert task.cn_tasks == {
        'ImagePrompt': [], 'CPDS': [],
        'PyraCanny': [['<ip_image#1>', '<ip_stop#1>', '<ip_weight#1>']],
        'FaceSwap': [['<ip_image#3>', '<ip_stop#3>', '<ip_weight#3>']],
    }
    enabled_tabs = [[f'<{field}#{tab}>' for field in ENHANCE_TAB_FIELDS[1:]] for tab in (1, 3)]
    assert task.enhance_ctrls == enabled_tabs and task.should_enhance is True
    assert (task.yields, task.results, task.last_stop, task.processing) == ([], [], False, False)


@pytest.mark.parametrize('flags, expected_length', [
    ((), 152),
    (('--disable-image-log',), 151),
    (('--disable-metadata',), 150),
    (('--disable-image-log', '--disable-metadata'), 149),
])
def test_disable_flags_shorten_the_argument_list(load_fooocus, flags, expected_length):
    fooocus = load_fooocus(*flags)
    names = layout_for(flags)
    args = task_args(names)

    task = fooocus.worker.AsyncTask(args=args)

    assert len(names) == len(task.args) == expected_length
    assert args == []
    with pytest.raises(IndexError):
        fooocus.worker.AsyncTask(args=task_args(names)[:-1])


def test_disabled_save_options_take_fooocus_fallbacks(load_fooocus):
    fooocus = load_fooocus('--disable-image-log', '--disable-metadata')

    task = fooocus.worker.AsyncTask(args=task_args(layout(image_log=False, metadata=False)))

    assert (task.save_final_enhanced_image_only, task.save_metadata_to_images) == (False, False)
    assert task.metadata_scheme is fooocus.flags.MetadataScheme.FOOOCUS


def test_lora_count_follows_the_preset(load_fooocus):
    fooocus = load_fooocus('--preset', 'lightning')
    args = task_args(layout(loras=3), **{'lora_model#3': 'x.safetensors'})

    task = fooocus.worker.AsyncTask(args=args)

    assert task.loras == [('x.safetensors', 1.0)]


def test_enhance_checkbox_alone_sets_should_enhance_as_in_fooocus(load_fooocus):
    task = load_fooocus().worker.AsyncTask(args=task_args(enhance_checkbox=True))

    assert (task.should_enhance, task.enhance_ctrls) == (True, [])


def test_empty_argument_list_makes_a_placeholder_task(load_fooocus):
    task = load_fooocus().worker.AsyncTask(args=[])

    assert (task.args, task.yields, task.results) == ([], [], [])
    assert (task.last_stop, task.processing) == (False, False)
    assert not hasattr(task, 'prompt')


# --- worker ---------------------------------------------------------------------------------

def test_worker_turns_a_task_into_previews_results_and_finish(load_fooocus, outputs):
    fooocus = load_fooocus()
    task = fooocus.worker.AsyncTask(args=task_args(image_number=2))

    yields = run_to_finish(fooocus, task)

    assert kinds(yields)[0] == 'preview' and kinds(yields).count('finish') == 1
    assert 'Sampling step 4/4, image 2/2 ...' in titles(yields)
    assert [len(product) for flag, product in yields if flag == 'results'] == [1, 2]
    paths = finished_paths(yields)
    assert paths == task.results and len(paths) == 2 and task.processing is False
    for path, seed in zip(paths, (42, 43), strict=True):
        assert Path(path).parent.parent == outputs
        assert re.fullmatch(r'\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_\d{4}\.png', Path(path).name)
        with Image.open(path) as image:
            assert (image.format, image.size) == ('PNG', (144, 112))
            assert image.getpixel((0, 0)) == (seed, 0, 0)


def test_previews_carry_uint8_images_of_the_configured_size(load_fooocus, monkeypatch):
    fooocus = load_fooocus()
    monkeypatch.setenv('FOOOCUS_STANDIN_PREVIEW_SIZE', '16')

    yields = run_to_finish(fooocus, fooocus.worker.AsyncTask(args=task_args()))

    previews = [product for flag, product in yields if flag == 'preview']
    images = [image for _, _, image in previews if image is not None]
    assert len(images) == 4
    assert all(image.dtype == np.uint8 and image.shape == (16, 16, 3) for image in images)
    assert all(0 <= percent <= 100 for percent, _, _ in previews)


def test_disable_preview_sends_no_preview_images(load_fooocus):
    fooocus = load_fooocus()

    yields = run_to_finish(fooocus, fooocus.worker.AsyncTask(args=task_args(disable_preview=True)))

    assert all(product[2] is None for flag, product in yields if flag == 'preview')


def test_single_image_or_disabled_intermediates_show_only_at_finish(load_fooocus):
    fooocus = load_fooocus()
    single = fooocus.worker.AsyncTask(args=task_args())
    hidden_args = task_args(image_number=2, disable_intermediate_results=True)
    hidden = fooocus.worker.AsyncTask(args=hidden_args)

    assert 'results' not in kinds(run_to_finish(fooocus, single))
    assert 'results' not in kinds(run_to_finish(fooocus, hidden))
    assert (len(finished_paths(single.yields)), len(finished_paths(hidden.yields))) == (1, 2)


def test_step_count_comes_from_performance_capped_by_env(load_fooocus, monkeypatch):
    fooocus = load_fooocus()
    monkeypatch.setenv('FOOOCUS_STANDIN_STEPS', '2')
    capped = fooocus.worker.AsyncTask(args=task_args(performance_selection='Speed'))
    forced = fooocus.worker.AsyncTask(args=task_args(overwrite_step=3))

    assert titles(run_to_finish(fooocus, capped))[-2] == 'Sampling step 2/2, image 1/1 ...'
    assert titles(run_to_finish(fooocus, forced))[-2] == 'Sampling step 3/3, image 1/1 ...'


def test_failed_task_still_ends_with_finish(load_fooocus, caplog):
    fooocus = load_fooocus()
    task = fooocus.worker.AsyncTask(args=task_args(prompt='please standin:raise now'))

    yields = run_to_finish(fooocus, task)

    assert yields == [['preview', (1, 'Loading models ...', None)], ['finish', []]]
    assert 'stand-in failure requested' in caplog.text


def test_placeholder_task_in_the_queue_still_finishes(load_fooocus):
    fooocus = load_fooocus()

    assert run_to_finish(fooocus, fooocus.worker.AsyncTask(args=[])) == [['finish', []]]


def test_worker_reads_async_tasks_global_each_time(load_fooocus):
    fooocus = load_fooocus()
    popped: list[Any] = []

    class RecordingList(list):
        def pop(self, index: int = -1) -> Any:
            popped.append(super().pop(index))
            return popped[-1]

    fooocus.worker.async_tasks = RecordingList()
    task = fooocus.worker.AsyncTask(args=task_args())
    run_to_finish(fooocus, task)

    assert popped == [task]


def start_slow_task(fooocus: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv('FOOOCUS_STANDIN_STEP_SECONDS', '0.02')
    task = fooocus.worker.AsyncTask(args=task_args(image_number=2, overwrite_step=25))
    fooocus.worker.async_tasks.append(task)
    wait_for(lambda: 'Sampling step 1/25, image 1/2 ...' in titles(task.yields))
    return task


def press(fooocus: SimpleNamespace, task: Any, reason: str) -> None:
    """What Fooocus's Stop and Skip buttons do."""
    task.last_stop = reason
    if task.processing:
        fooocus.model_management.interrupt_current_processing()


def test_skip_ends_the_current_image_and_goes_on(load_fooocus, monkeypatch):
    fooocus = load_fooocus()
    task = start_slow_task(fooocus, monkeypatch)

    press(fooocus, task, 'skip')
    yields = run_to_finish(fooocus, task)

    assert len(finished_paths(yields)) == 1 and task.last_stop is False
    assert 'Sampling step 25/25, image 1/2 ...' not in titles(yields)
    with Image.open(finished_paths(yields)[0]) as image:
        assert image.getpixel((0, 0)) == (43, 0, 0)


def test_stop_ends_the_task(load_fooocus, monkeypatch):
    fooocus = load_fooocus()
    task = start_slow_task(fooocus, monkeypatch)

    press(fooocus, task, 'stop')
    yields = run_to_finish(fooocus, task)

    assert yields[-1] == ['finish', []]
    assert (task.last_stop, task.processing) == ('stop', False)
    assert not any('image 2/2' in title for title in titles(yields))


def test_skip_pressed_before_start_skips_the_first_image(load_fooocus):
    fooocus = load_fooocus()
    task = fooocus.worker.AsyncTask(args=task_args(image_number=2))
    press(fooocus, task, 'skip')

    yields = run_to_finish(fooocus, task)

    assert len(finished_paths(yields)) == 1 and task.last_stop is False


def test_image_grid_appends_a_wall_of_the_results(load_fooocus):
    fooocus = load_fooocus()
    task = fooocus.worker.AsyncTask(args=task_args(image_number=3, generate_image_grid=True))

    *paths, wall = finished_paths(run_to_finish(fooocus, task))

    assert len(paths) == 3 and all(isinstance(path, str) for path in paths)
    assert wall.shape == (224, 288, 3) and wall.dtype == np.uint8
    assert tuple(wall[0, 0]) == (42, 0, 0) and tuple(wall[-1, -1]) == (0, 0, 0)


@pytest.mark.parametrize('output_format, pil_format', [('jpeg', 'JPEG'), ('webp', 'WEBP')])
def test_output_format_sets_file_type(load_fooocus, output_format, pil_format):
    fooocus = load_fooocus()
    task = fooocus.worker.AsyncTask(args=task_args(output_format=output_format))

    path = finished_paths(run_to_finish(fooocus, task))[0]

    assert path.endswith('.' + output_format)
    with Image.open(path) as image:
        assert image.format == pil_format


def test_size_follows_ratio_and_overwrites(load_fooocus):
    fooocus = load_fooocus()
    args = task_args(aspect_ratios_selection='832*1216', overwrite_height=640)

    path = finished_paths(run_to_finish(fooocus, fooocus.worker.AsyncTask(args=args)))[0]

    with Image.open(path) as image:
        assert image.size == (104, 80)


def test_disable_image_log_writes_to_temp_path(load_fooocus, temp_folder, outputs):
    fooocus = load_fooocus('--disable-image-log')
    task = fooocus.worker.AsyncTask(args=task_args(layout(image_log=False)))

    path = Path(finished_paths(run_to_finish(fooocus, task))[0])

    assert path.parent.parent == temp_folder and path.is_file()
    assert not any(outputs.iterdir())


# --- webui ----------------------------------------------------------------------------------

def test_webui_launches_like_fooocus(load_webui, outputs):
    webui, launch = load_webui('--listen', '127.0.0.1', '--port', '7999')

    assert launch == {'inbrowser': True, 'server_name': '127.0.0.1', 'server_port': 7999,
                      'share': False, 'allowed_paths': [str(outputs)]}
    assert webui.shared.gradio_root.title == 'Fooocus 2.5.5'
    api_names = {event['api_name'] for event in webui.shared.gradio_root.config['dependencies']}
    assert {'generate', 'stop', 'skip'} <= api_names


def test_webui_title_names_the_preset(load_webui):
    webui, _ = load_webui('--preset', 'anime')

    assert webui.shared.gradio_root.title == 'Fooocus 2.5.5 anime'


@pytest.mark.parametrize('flags', [(), ('--disable-image-log',), ('--disable-metadata',)])
def test_webui_ctrls_have_fooocus_layout(load_webui, flags):
    webui, _ = load_webui(*flags)

    ctrls = webui.default_ctrls('a cat', 5)

    names = layout_for(flags)
    assert len(ctrls) == len(names)
    assert ctrls[names.index('prompt')] == 'a cat' and ctrls[names.index('seed')] == '5'


def test_webui_ctrls_make_a_fresh_page_task(load_webui):
    webui, _ = load_webui()
    config = webui.modules.config

    task = webui.get_task(None, *webui.default_ctrls('a cat', 5))

    assert (task.prompt, task.seed, task.image_number) == ('a cat', 5, 2)
    assert task.aspect_ratios_selection == ASPECT_1152_896
    assert task.performance_selection.value == 'Speed'
    assert task.disable_intermediate_results is False
    assert task.loras == [('sd_xl_offset_example-lora_1.0.safetensors', 0.1)]
    assert (task.cfg_scale, task.sharpness) == (4.0, 2.0)
    assert task.base_model_name == config.default_base_model_name
    assert task.style_selections == config.default_styles
    assert task.style_selections is not config.default_styles
    assert task.cn_tasks == {name: [] for name in task.cn_tasks}
    assert (task.enhance_ctrls, task.should_enhance) == ([], False)


def test_generate_returns_result_paths(load_webui, monkeypatch):
    webui, _ = load_webui()
    monkeypatch.setenv('FOOOCUS_STANDIN_STEPS', '1')
    webui.model_management.interrupt_current_processing()

    paths = webui.generate(None, 'a cat')

    assert len(paths) == 2 and all(os.path.isfile(path) for path in paths)


def test_stop_clicked_reaches_the_session_task(load_webui, monkeypatch):
    webui, _ = load_webui()
    monkeypatch.setenv('FOOOCUS_STANDIN_STEP_SECONDS', '0.02')
    session_task = webui.worker.AsyncTask(args=[])
    finished: list[Any] = []
    thread = threading.Thread(target=lambda: finished.append(webui.generate(session_task, 'x')))

    thread.start()
    wait_for(lambda: session_task.processing)
    assert webui.stop_clicked(session_task) is session_task
    thread.join(timeout=20)

    assert finished == [[]] and session_task.last_stop == 'stop'


def test_skip_clicked_on_an_idle_task_only_marks_it(load_webui):
    webui, _ = load_webui()
    task = webui.worker.AsyncTask(args=[])

    webui.skip_clicked(task)

    assert task.last_stop == 'skip'
    assert webui.model_management.processing_interrupted() is False
    assert webui.stop_clicked(None) is None


# --- launching ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def fetch(url: str, data: bytes | None = None, timeout: float = 10.0) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=data, headers={'Content-Type': 'application/json'})
    with opener.open(request, timeout=timeout) as response:
        return response.status, response.read().decode('utf-8')


def wait_for_page(url: str, process: subprocess.Popen, timeout: float = 90.0) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, 'server exited early'
        try:
            return fetch(url)
        except OSError:
            time.sleep(0.25)
    raise AssertionError(f'{url} did not answer within {timeout} seconds')


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=20)


@pytest.mark.parametrize('script', ['launch.py', 'entry_with_update.py'])
def test_launch_serves_the_gradio_page(script, tmp_path, outputs):
    port = free_port()
    env = {**os.environ, 'FOOOCUS_STANDIN_OUTPUTS': str(outputs), 'FOOOCUS_STANDIN_STEPS': '1',
           'GRADIO_ANALYTICS_ENABLED': 'False', 'NO_PROXY': '127.0.0.1,localhost'}
    command = [sys.executable, script, '--listen', '127.0.0.1', '--port', str(port)]
    base_url = f'http://127.0.0.1:{port}'

    with (tmp_path / 'server.log').open('wb') as log:
        process = subprocess.Popen(command, cwd=STANDIN_ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        try:
            status, page = wait_for_page(base_url + '/', process)
            _, reply = fetch(base_url + '/run/generate', b'{"data": [null, "a cat"]}', timeout=60)
        finally:
            stop_server(process)

    assert status == 200 and 'Fooocus 2.5.5' in page
    assert '"is_file":true' in reply.replace(' ', '')
    assert len(list(outputs.glob('*/*.png'))) == 2
