"""Fooocus 2.5.5's task queue: AsyncTask, `async_tasks` and the worker thread.

A client builds AsyncTask(args) from the UI's argument list, appends it to
`async_tasks` and reads `task.yields`: ['preview', (percent, title, image or
None)], ['results', paths] and finally ['finish', results], which comes even
when generation failed. Instead of diffusion, each image is a small solid
colour picture (the requested size / 8) whose colour follows the image seed.

Environment: FOOOCUS_STANDIN_STEPS caps the Performance step count,
FOOOCUS_STANDIN_STEP_SECONDS sleeps per step (default 0), and
FOOOCUS_STANDIN_PREVIEW_SIZE sets the square preview's side (default 64).
"""
from __future__ import annotations

import logging
import math
import os
import threading
import time
from typing import Any

import numpy as np
from PIL import Image

import args_manager
import ldm_patched.modules.model_management as model_management
import modules.config
from modules import constants, flags
from modules.sdxl_styles import fooocus_expansion
from modules.util import generate_temp_filename, get_enabled_loras

logger = logging.getLogger(__name__)

FAILURE_MARKER = 'standin:raise'
LATENT_SCALE = 8


class ArgumentReader:
    """Takes the UI's arguments front to back, consuming the caller's list as Fooocus does."""

    def __init__(self, args: list[Any]) -> None:
        args.reverse()
        self._remaining = args

    def take(self) -> Any:
        return self._remaining.pop()

    def take_group(self, size: int) -> list[Any]:
        return [self.take() for _ in range(size)]


class AsyncTask:
    def __init__(self, args: list[Any]) -> None:
        self.args = args.copy()
        self.yields: list[list[Any]] = []
        self.results: list[Any] = []
        self.last_stop: bool | str = False
        self.processing = False
        self.performance_loras: list[tuple[str, float]] = []

        if len(args) == 0:
            return

        reader = ArgumentReader(args)
        self._read_prompt_and_size(reader)
        self._read_models(reader)
        self._read_image_inputs(reader)
        self._read_developer_options(reader)
        self._read_save_options(reader)
        self._read_image_prompts(reader)
        self._read_enhance(reader)

    def _read_prompt_and_size(self, reader: ArgumentReader) -> None:
        self.generate_image_grid = reader.take()
        self.prompt = reader.take()
        self.negative_prompt = reader.take()
        self.style_selections = reader.take()

        self.performance_selection = flags.Performance(reader.take())
        self.steps = self.performance_selection.steps()
        self.original_steps = self.steps

        self.aspect_ratios_selection = reader.take()
        self.image_number = reader.take()
        self.output_format = reader.take()
        self.seed = int(reader.take())
        self.read_wildcards_in_order = reader.take()
        self.sharpness = reader.take()
        self.cfg_scale = reader.take()

    def _read_models(self, reader: ArgumentReader) -> None:
        self.base_model_name = reader.take()
        self.refiner_model_name = reader.take()
        self.refiner_switch = reader.take()

        triples = []
        for _ in range(modules.config.default_max_lora_number):
            enabled, filename, weight = reader.take_group(3)
            triples.append((bool(enabled), str(filename), float(weight)))
        self.loras = get_enabled_loras(triples)

    def _read_image_inputs(self, reader: ArgumentReader) -> None:
        self.input_image_checkbox = reader.take()
        self.current_tab = reader.take()
        self.uov_method = reader.take()
        self.uov_input_image = reader.take()
        self.outpaint_selections = reader.take()
        self.inpaint_input_image = reader.take()
        self.inpaint_additional_prompt = reader.take()
        self.inpaint_mask_image_upload = reader.take()

    def _read_developer_options(self, reader: ArgumentReader) -> None:
        names = (
            'disable_preview', 'disable_intermediate_results', 'disable_seed_increment',
            'black_out_nsfw', 'adm_scaler_positive', 'adm_scaler_negative', 'adm_scaler_end',
            'adaptive_cfg', 'clip_skip', 'sampler_name', 'scheduler_name', 'vae_name',
            'overwrite_step', 'overwrite_switch', 'overwrite_width', 'overwrite_height',
            'overwrite_vary_strength', 'overwrite_upscale_strength',
            'mixing_image_prompt_and_vary_upscale', 'mixing_image_prompt_and_inpaint',
            'debugging_cn_preprocessor', 'skipping_cn_preprocessor', 'canny_low_threshold',
            'canny_high_threshold', 'refiner_swap_method', 'controlnet_softness',
            'freeu_enabled', 'freeu_b1', 'freeu_b2', 'freeu_s1', 'freeu_s2',
            'debugging_inpaint_preprocessor', 'inpaint_disable_initial_latent', 'inpaint_engine',
            'inpaint_strength', 'inpaint_respective_field', 'inpaint_advanced_masking_checkbox',
            'invert_mask_checkbox', 'inpaint_erode_or_dilate',
        )
        for name in names:
            setattr(self, name, reader.take())

    def _read_save_options(self, reader: ArgumentReader) -> None:
        # The UI leaves these controls out of its list when the matching flag is given.
        cli = args_manager.args
        self.save_final_enhanced_image_only = False if cli.disable_image_log else reader.take()
        self.save_metadata_to_images = False if cli.disable_metadata else reader.take()
        self.metadata_scheme = (flags.MetadataScheme.FOOOCUS if cli.disable_metadata
                                else flags.MetadataScheme(reader.take()))

    def _read_image_prompts(self, reader: ArgumentReader) -> None:
        self.cn_tasks: dict[str, list[list[Any]]] = {name: [] for name in flags.ip_list}
        for _ in range(modules.config.default_controlnet_image_count):
            image, stop_at, weight, ip_type = reader.take_group(4)
            if image is not None:
                self.cn_tasks[ip_type].append([image, stop_at, weight])

    def _read_enhance(self, reader: ArgumentReader) -> None:
        self.debugging_dino = reader.take()
        self.dino_erode_or_dilate = reader.take()
        self.debugging_enhance_masks_checkbox = reader.take()
        self.enhance_input_image = reader.take()
        self.enhance_checkbox = reader.take()
        self.enhance_uov_method = reader.take()
        self.enhance_uov_processing_order = reader.take()
        self.enhance_uov_prompt_type = reader.take()

        self.enhance_ctrls: list[list[Any]] = []
        for _ in range(modules.config.default_enhance_tabs):
            enabled, *settings = reader.take_group(16)
            if enabled:
                self.enhance_ctrls.append(settings)

        # Compared before the method is casefolded, so an enabled Enhance checkbox alone
        # makes this true: Fooocus 2.5.5 behaves the same way.
        uov_enabled = self.enhance_uov_method != flags.disabled.casefold()
        self.should_enhance = self.enhance_checkbox and (uov_enabled or len(self.enhance_ctrls) > 0)
        self.images_to_enhance_count = 0
        self.enhance_stats: dict[int, int] = {}


async_tasks: list[AsyncTask] = []


def progressbar(async_task: AsyncTask, number: int, text: str) -> None:
    async_task.yields.append(['preview', (number, text, None)])


def env_number(name: str, default: float) -> float:
    value = os.environ.get(name, '')
    return float(value) if value.strip() else default


def sampling_steps(async_task: AsyncTask) -> int:
    if async_task.overwrite_step > 0:
        return async_task.overwrite_step

    cap = os.environ.get('FOOOCUS_STANDIN_STEPS', '').strip()
    return min(async_task.steps, int(cap)) if cap else async_task.steps


def input_image_size(async_task: AsyncTask) -> tuple[int, int] | None:
    """For image tasks, the size the result would have: the (upscaled) input or canvas."""
    if not async_task.input_image_checkbox:
        return None
    if async_task.current_tab == 'uov' and 'upscale' in async_task.uov_method \
            and async_task.uov_input_image is not None:
        return upscaled_size(async_task, *async_task.uov_input_image.shape[:2])
    if async_task.current_tab == 'inpaint' and isinstance(async_task.inpaint_input_image, dict):
        height, width = async_task.inpaint_input_image['image'].shape[:2]
        return width, height
    return None


def upscaled_size(async_task: AsyncTask, H: int, W: int) -> tuple[int, int]:
    """Fooocus's factors; the shape_ceil line is the upscale_multiple patch's anchor."""
    if '1.5x' in async_task.uov_method:
        f = 1.5
    elif '2x' in async_task.uov_method:
        f = 2.0
    else:
        f = 1.0
    shape_ceil = get_shape_ceil(H * f, W * f)
    logger.debug("upscale to %.1fx, shape ceil %d", f, shape_ceil)
    return int(W * f), int(H * f)


def get_shape_ceil(height: float, width: float) -> float:
    return math.ceil(((height * width) ** 0.5) / 64.0) * 64.0


def image_size(async_task: AsyncTask) -> tuple[int, int]:
    """Width and height from the '1152×896 <span …>' label, then the overwrite sliders."""
    label = async_task.aspect_ratios_selection.replace('×', ' ').replace('*', ' ')
    width, height = (int(part) for part in label.split(' ')[:2])
    if async_task.overwrite_width > 0:
        width = async_task.overwrite_width
    if async_task.overwrite_height > 0:
        height = async_task.overwrite_height
    return width, height


def image_seed(async_task: AsyncTask, index: int) -> int:
    if async_task.disable_seed_increment:
        return async_task.seed
    return (async_task.seed + index) % (constants.MAX_SEED + 1)


def seed_colour(seed: int) -> tuple[int, int, int]:
    return seed & 0xFF, (seed >> 8) & 0xFF, (seed >> 16) & 0xFF


def preview_image(seed: int, step: int) -> np.ndarray:
    side = int(env_number('FOOOCUS_STANDIN_PREVIEW_SIZE', 64))
    preview = np.empty((side, side, 3), dtype=np.uint8)
    preview[:] = seed_colour(seed + step)
    return preview


def save_image(async_task: AsyncTask, seed: int, width: int, height: int,
               scale: int = LATENT_SCALE) -> str:
    """Write the image where Fooocus's private logger would, and return its path."""
    persist_image = not async_task.should_enhance or not async_task.save_final_enhanced_image_only
    to_temp = args_manager.args.disable_image_log or not persist_image
    folder = modules.config.temp_path if to_temp else modules.config.path_outputs

    path = generate_temp_filename(folder=folder, extension=async_task.output_format)[1]
    while os.path.exists(path):
        # Fooocus would overwrite; a fresh name keeps counts of files on disk reliable in tests.
        path = generate_temp_filename(folder=folder, extension=async_task.output_format)[1]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    size = (max(1, width // scale), max(1, height // scale))
    Image.new('RGB', size, seed_colour(seed)).save(path)
    return path


class Progress:
    """Maps finished sampling steps onto the percentage after the preparation previews."""

    def __init__(self, start: int, all_steps: int) -> None:
        self.start = start
        self.all_steps = max(all_steps, 1)
        self.done = 0

    def advance(self) -> int:
        self.done += 1
        return self.percent()

    def percent(self) -> int:
        return int(self.start + (100 - self.start) * self.done / self.all_steps)


def prepare(async_task: AsyncTask) -> None:
    async_task.outpaint_selections = [o.lower() for o in async_task.outpaint_selections]
    async_task.uov_method = async_task.uov_method.casefold()
    async_task.enhance_uov_method = async_task.enhance_uov_method.casefold()
    if fooocus_expansion in async_task.style_selections:
        async_task.style_selections.remove(fooocus_expansion)

    progressbar(async_task, 1, 'Loading models ...')
    if FAILURE_MARKER in async_task.prompt:
        raise RuntimeError('stand-in failure requested')

    progressbar(async_task, 1, 'Loading control models ...')
    progressbar(async_task, 1, 'Initializing ...')
    progressbar(async_task, 2, 'Processing prompts ...')
    async_task.yields.append(['preview', (3, 'Moving model to GPU ...', None)])


def sample_image(async_task: AsyncTask, index: int, steps: int, progress: Progress) -> str:
    """One image: a preview per step, then the file. Raises InterruptProcessingException."""
    if async_task.last_stop is not False:
        model_management.interrupt_current_processing()

    seed = image_seed(async_task, index)
    pause = env_number('FOOOCUS_STANDIN_STEP_SECONDS', 0.0)
    for step in range(steps):
        if pause > 0:
            time.sleep(pause)
        model_management.throw_exception_if_processing_interrupted()
        preview = None if async_task.disable_preview else preview_image(seed, step)
        title = f'Sampling step {step + 1}/{steps}, image {index + 1}/{async_task.image_number} ...'
        if os.environ.get('FOOOCUS_STANDIN_STAMP'):
            title += f' @{time.time():.6f}'  # when the worker yielded it, for the benchmark
        async_task.yields.append(['preview', (progress.advance(), title, preview)])

    progressbar(async_task, progress.percent(),
                f'Saving image {index + 1}/{async_task.image_number} to system ...')
    from_input = input_image_size(async_task)
    if from_input is not None:
        return save_image(async_task, seed, *from_input, scale=1)
    return save_image(async_task, seed, *image_size(async_task))


def yield_result(async_task: AsyncTask, path: str) -> None:
    # Like Fooocus: a single image, or disabled intermediate results, shows only at 'finish'.
    async_task.results = async_task.results + [path]
    show_intermediate = async_task.image_number > 1 or async_task.should_enhance
    if show_intermediate and not async_task.disable_intermediate_results:
        async_task.yields.append(['results', async_task.results])


def handler(async_task: AsyncTask) -> None:
    async_task.processing = True
    prepare(async_task)

    steps = sampling_steps(async_task)
    async_task.steps = steps
    progress = Progress(start=3, all_steps=steps * async_task.image_number)
    for index in range(async_task.image_number):
        progressbar(async_task, progress.percent(),
                    f'Preparing task {index + 1}/{async_task.image_number} ...')
        try:
            path = sample_image(async_task, index, steps, progress)
        except model_management.InterruptProcessingException:
            if async_task.last_stop == 'skip':
                logger.info('User skipped image %d', index + 1)
                async_task.last_stop = False
                continue
            logger.info('User stopped')
            break
        yield_result(async_task, path)

    async_task.processing = False


def build_image_wall(async_task: AsyncTask) -> None:
    """Append one grid of all result images, when there are several of one shape."""
    if len(async_task.results) < 2:
        return

    images = [load_result(result) for result in async_task.results]
    if any(image is None or image.ndim != 3 for image in images):
        return
    if len({image.shape for image in images}) != 1:
        return

    height, width, channels = images[0].shape
    cols = math.ceil(len(images) ** 0.5)
    rows = math.ceil(len(images) / cols)
    wall = np.zeros((height * rows, width * cols, channels), dtype=np.uint8)
    for number, image in enumerate(images):
        row, col = divmod(number, cols)
        wall[row * height:(row + 1) * height, col * width:(col + 1) * width] = image
    async_task.results = async_task.results + [wall]


def load_result(result: Any) -> np.ndarray | None:
    if isinstance(result, str) and os.path.exists(result):
        with Image.open(result) as image:
            return np.asarray(image.convert('RGB'))
    return result if isinstance(result, np.ndarray) else None


def run_task(task: AsyncTask) -> None:
    started = time.perf_counter()
    try:
        handler(task)
        if task.generate_image_grid:
            build_image_wall(task)
        task.yields.append(['finish', task.results])
    except BaseException:  # noqa: B036 - as in 2.5.5: 'finish' is sent from inside the handler
        logger.exception('Task failed')
        task.yields.append(['finish', task.results])
    logger.info('Task finished: %d results in %.2f seconds',
                len(task.results), time.perf_counter() - started)


def worker() -> None:
    logger.info('Started worker with PID %d', os.getpid())
    while True:
        time.sleep(0.01)
        # Read the module global every time round: callers may swap in another list.
        if len(async_tasks) > 0:
            task = async_tasks.pop(0)
            run_task(task)


threading.Thread(target=worker, daemon=True, name='fooocus-worker').start()
