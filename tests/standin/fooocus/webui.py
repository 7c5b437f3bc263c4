"""A small Fooocus 2.5.5 page: prompt, Generate, Stop, Skip and a gallery.

Every other control keeps its default, so Generate sends the full argument list
the real page sends when only the prompt was typed (with a random seed).
Importing this module launches the server and blocks, as Fooocus's webui does.
"""
from __future__ import annotations

import copy
import logging
import random
import time
from typing import Any

import gradio as gr

import args_manager
import fooocus_version
import ldm_patched.modules.model_management as model_management
import modules.async_worker as worker
import modules.config
import modules.constants as constants
import modules.flags as flags
import shared

logger = logging.getLogger(__name__)


def default_ctrls(prompt: str, seed: int) -> list[Any]:
    """The values of webui.py's `ctrls` after currentTask, for a fresh page."""
    return (
        main_ctrls(prompt, seed) + lora_ctrls() + input_image_ctrls() + developer_ctrls()
        + save_ctrls() + image_prompt_ctrls() + enhance_ctrls()
    )


def main_ctrls(prompt: str, seed: int) -> list[Any]:
    config = modules.config
    return [
        False, prompt, config.default_prompt_negative, copy.deepcopy(config.default_styles),
        config.default_performance, config.default_aspect_ratio, config.default_image_number,
        config.default_output_format, str(seed), False, config.default_sample_sharpness,
        config.default_cfg_scale, config.default_base_model_name,
        config.default_refiner_model_name, config.default_refiner_switch,
    ]


def lora_ctrls() -> list[Any]:
    values: list[Any] = []
    for enabled, filename, weight in modules.config.default_loras:
        values += [enabled, filename, weight]
    return values


def input_image_ctrls() -> list[Any]:
    config = modules.config
    return [config.default_image_prompt_checkbox, 'uov', config.default_uov_method, None,
            [], None, '', None]


def developer_ctrls() -> list[Any]:
    config = modules.config
    restricted = flags.Performance.has_restricted_features(config.default_performance)
    # Bare numbers are slider values that Fooocus's webui.py writes inline, not config settings.
    return [
        config.default_black_out_nsfw, restricted, False, config.default_black_out_nsfw,
        1.5, 0.8, 0.3, config.default_cfg_tsnr, config.default_clip_skip,
        config.default_sampler, config.default_scheduler, config.default_vae,
        config.default_overwrite_step, config.default_overwrite_switch, -1, -1, -1,
        config.default_overwrite_upscale, False, False,
        False, False, 64, 128, flags.refiner_swap_method, 0.25,
        False, 1.01, 1.02, 0.99, 0.95,
        False, False, config.default_inpaint_engine_version, 1.0, 0.618,
        config.default_inpaint_advanced_masking_checkbox, config.default_invert_mask_checkbox, 0,
    ]


def save_ctrls() -> list[Any]:
    config = modules.config
    values: list[Any] = []
    if not args_manager.args.disable_image_log:
        values += [config.default_save_only_final_enhanced_image]
    if not args_manager.args.disable_metadata:
        values += [config.default_save_metadata_to_images, config.default_metadata_scheme]
    return values


def image_prompt_ctrls() -> list[Any]:
    config = modules.config
    values: list[Any] = []
    for number in range(1, config.default_controlnet_image_count + 1):
        values += [config.default_ip_images[number], config.default_ip_stop_ats[number],
                   config.default_ip_weights[number], config.default_ip_types[number]]
    return values


def enhance_ctrls() -> list[Any]:
    config = modules.config
    values: list[Any] = [
        False, 0, False, None, config.default_enhance_checkbox, config.default_enhance_uov_method,
        config.default_enhance_uov_processing_order, config.default_enhance_uov_prompt_type,
    ]
    for _ in range(config.default_enhance_tabs):
        values += [
            False, '', '', '', config.default_enhance_inpaint_mask_model,
            config.default_inpaint_mask_cloth_category, config.default_inpaint_mask_sam_model,
            0.25, 0.3, config.default_sam_max_detections, False,
            config.default_inpaint_engine_version, 1.0, 0.618, 0, False,
        ]
    return values


def get_task(*args: Any) -> worker.AsyncTask:
    """Fooocus's get_task: the first value is currentTask, the rest is the task's list."""
    return worker.AsyncTask(args=list(args[1:]))


def generate_clicked(task: worker.AsyncTask) -> list[Any] | None:
    """Queue the task and wait for 'finish'; returns the finished product."""
    with model_management.interrupt_processing_mutex:
        model_management.interrupt_processing = False

    if len(task.args) == 0:
        return None

    started = time.perf_counter()
    worker.async_tasks.append(task)
    while True:
        time.sleep(0.01)
        if len(task.yields) == 0:
            continue
        flag, product = task.yields.pop(0)
        if flag == 'finish':
            logger.info('Total time: %.2f seconds', time.perf_counter() - started)
            return product


def generate(current_task: worker.AsyncTask | None, prompt: str) -> list[Any] | None:
    args = default_ctrls(prompt, random.randint(constants.MIN_SEED, constants.MAX_SEED))
    if current_task is None:
        return generate_clicked(get_task(None, *args))

    # Stop and Skip read this session's gr.State object, which is only replaced when an
    # event returns; re-initialising it in place lets them reach the running task.
    current_task.__init__(args=args)
    return generate_clicked(current_task)


def interrupt(current_task: worker.AsyncTask | None, reason: str) -> worker.AsyncTask | None:
    if current_task is None:
        return None
    current_task.last_stop = reason
    if current_task.processing:
        model_management.interrupt_current_processing()
    return current_task


def stop_clicked(current_task: worker.AsyncTask | None) -> worker.AsyncTask | None:
    return interrupt(current_task, 'stop')


def skip_clicked(current_task: worker.AsyncTask | None) -> worker.AsyncTask | None:
    return interrupt(current_task, 'skip')


def page_title() -> str:
    title = f'Fooocus {fooocus_version.version}'
    if isinstance(args_manager.args.preset, str):
        title += ' ' + args_manager.args.preset
    return title


def build_page() -> None:
    current_task = gr.State(worker.AsyncTask(args=[]))
    gallery = gr.Gallery(label='Gallery', show_label=False, object_fit='contain', height=768)
    prompt = gr.Textbox(show_label=False, placeholder='Type prompt here.', lines=3,
                        value=modules.config.default_prompt)
    with gr.Row():
        generate_button = gr.Button(value='Generate', variant='primary')
        skip_button = gr.Button(value='Skip')
        stop_button = gr.Button(value='Stop')

    generate_button.click(generate, inputs=[current_task, prompt], outputs=gallery,
                          api_name='generate')
    stop_button.click(stop_clicked, inputs=current_task, outputs=current_task,
                      queue=False, show_progress=False, api_name='stop')
    skip_button.click(skip_clicked, inputs=current_task, outputs=current_task,
                      queue=False, show_progress=False, api_name='skip')


shared.gradio_root = gr.Blocks(title=page_title()).queue()
with shared.gradio_root:
    build_page()

shared.gradio_root.launch(
    inbrowser=args_manager.args.in_browser,
    server_name=args_manager.args.listen,
    server_port=args_manager.args.port,
    share=False,
    allowed_paths=[modules.config.path_outputs],
)
