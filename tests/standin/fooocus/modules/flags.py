"""Fooocus 2.5.5's named choices: the exact strings its UI sends to AsyncTask."""
from __future__ import annotations

from enum import Enum, IntEnum

disabled = 'Disabled'
enabled = 'Enabled'
subtle_variation = 'Vary (Subtle)'
strong_variation = 'Vary (Strong)'
upscale_15 = 'Upscale (1.5x)'
upscale_2 = 'Upscale (2x)'
upscale_fast = 'Upscale (Fast 2x)'
uov_list = [disabled, subtle_variation, strong_variation, upscale_15, upscale_2, upscale_fast]

enhancement_uov_before = 'Before First Enhancement'
enhancement_uov_after = 'After Last Enhancement'
enhancement_uov_processing_order = [enhancement_uov_before, enhancement_uov_after]

enhancement_uov_prompt_type_original = 'Original Prompts'
enhancement_uov_prompt_type_last_filled = 'Last Filled Enhancement Prompts'
enhancement_uov_prompt_types = [
    enhancement_uov_prompt_type_original, enhancement_uov_prompt_type_last_filled,
]

# Fooocus sampler name -> the name A1111 and Civitai use ('' where they have none).
KSAMPLER = {
    'euler': 'Euler', 'euler_ancestral': 'Euler a', 'heun': 'Heun', 'heunpp2': '',
    'dpm_2': 'DPM2', 'dpm_2_ancestral': 'DPM2 a', 'lms': 'LMS', 'dpm_fast': 'DPM fast',
    'dpm_adaptive': 'DPM adaptive', 'dpmpp_2s_ancestral': 'DPM++ 2S a',
    'dpmpp_sde': 'DPM++ SDE', 'dpmpp_sde_gpu': 'DPM++ SDE', 'dpmpp_2m': 'DPM++ 2M',
    'dpmpp_2m_sde': 'DPM++ 2M SDE', 'dpmpp_2m_sde_gpu': 'DPM++ 2M SDE', 'dpmpp_3m_sde': '',
    'dpmpp_3m_sde_gpu': '', 'ddpm': '', 'lcm': 'LCM', 'tcd': 'TCD', 'restart': 'Restart',
}
SAMPLER_EXTRA = {'ddim': 'DDIM', 'uni_pc': 'UniPC', 'uni_pc_bh2': ''}
SAMPLERS = KSAMPLER | SAMPLER_EXTRA
CIVITAI_NO_KARRAS = [
    'euler', 'euler_ancestral', 'heun', 'dpm_fast', 'dpm_adaptive', 'ddim', 'uni_pc',
]

KSAMPLER_NAMES = list(KSAMPLER)
SAMPLER_NAMES = KSAMPLER_NAMES + list(SAMPLER_EXTRA)
SCHEDULER_NAMES = [
    'normal', 'karras', 'exponential', 'sgm_uniform', 'simple', 'ddim_uniform', 'lcm', 'turbo',
    'align_your_steps', 'tcd', 'edm_playground_v2.5',
]
sampler_list = SAMPLER_NAMES
scheduler_list = SCHEDULER_NAMES

clip_skip_max = 12
default_vae = 'Default (model)'
refiner_swap_method = 'joint'

default_input_image_tab = 'uov_tab'
input_image_tab_ids = [
    'uov_tab', 'ip_tab', 'inpaint_tab', 'describe_tab', 'enhance_tab', 'metadata_tab',
]

cn_ip = 'ImagePrompt'
cn_ip_face = 'FaceSwap'
cn_canny = 'PyraCanny'
cn_cpds = 'CPDS'
ip_list = [cn_ip, cn_canny, cn_cpds, cn_ip_face]
default_ip = cn_ip

# Image prompt type -> (stop at, weight) the UI resets to.
default_parameters = {
    cn_ip: (0.5, 0.6), cn_ip_face: (0.9, 0.75), cn_canny: (0.5, 1.0), cn_cpds: (0.5, 1.0),
}

output_formats = ['png', 'jpeg', 'webp']

inpaint_mask_models = [
    'u2net', 'u2netp', 'u2net_human_seg', 'u2net_cloth_seg', 'silueta', 'isnet-general-use',
    'isnet-anime', 'sam',
]
inpaint_mask_cloth_category = ['full', 'upper', 'lower']
inpaint_mask_sam_model = ['vit_b', 'vit_l', 'vit_h']

inpaint_engine_versions = ['None', 'v1', 'v2.5', 'v2.6']
inpaint_option_default = 'Inpaint or Outpaint (default)'
inpaint_option_detail = 'Improve Detail (face, hand, eyes, etc.)'
inpaint_option_modify = 'Modify Content (add objects, change background, etc.)'
inpaint_options = [inpaint_option_default, inpaint_option_detail, inpaint_option_modify]

describe_type_photo = 'Photograph'
describe_type_anime = 'Art/Anime'
describe_types = [describe_type_photo, describe_type_anime]

sdxl_aspect_ratios = [
    f'{width}*{height}' for width, height in (
        (704, 1408), (704, 1344), (768, 1344), (768, 1280), (832, 1216), (832, 1152),
        (896, 1152), (896, 1088), (960, 1088), (960, 1024), (1024, 1024), (1024, 960),
        (1088, 960), (1088, 896), (1152, 896), (1152, 832), (1216, 832), (1280, 768),
        (1344, 768), (1344, 704), (1408, 704), (1472, 704), (1536, 640), (1600, 640),
        (1664, 576), (1728, 576),
    )
]


class MetadataScheme(Enum):
    FOOOCUS = 'fooocus'
    A1111 = 'a1111'


# (label, value) pairs for the UI's radio.
metadata_scheme = [
    (f'{MetadataScheme.FOOOCUS.value} (json)', MetadataScheme.FOOOCUS.value),
    (f'{MetadataScheme.A1111.value} (plain text)', MetadataScheme.A1111.value),
]


class OutputFormat(Enum):
    PNG = 'png'
    JPEG = 'jpeg'
    WEBP = 'webp'

    @classmethod
    def list(cls) -> list[str]:
        return [member.value for member in cls]


class PerformanceLoRA(Enum):
    # QUALITY and SPEED share the value None, so SPEED is an alias of QUALITY, as in Fooocus.
    QUALITY = None
    SPEED = None
    EXTREME_SPEED = 'sdxl_lcm_lora.safetensors'
    LIGHTNING = 'sdxl_lightning_4step_lora.safetensors'
    HYPER_SD = 'sdxl_hyper_sd_4step_lora.safetensors'


class Steps(IntEnum):
    QUALITY = 60
    SPEED = 30
    EXTREME_SPEED = 8
    LIGHTNING = 4
    HYPER_SD = 4

    @classmethod
    def keys(cls) -> list[str]:
        return list(cls.__members__)


class StepsUOV(IntEnum):
    QUALITY = 36
    SPEED = 18
    EXTREME_SPEED = 8
    LIGHTNING = 4
    HYPER_SD = 4


class Performance(Enum):
    QUALITY = 'Quality'
    SPEED = 'Speed'
    EXTREME_SPEED = 'Extreme Speed'
    LIGHTNING = 'Lightning'
    HYPER_SD = 'Hyper-SD'

    @classmethod
    def list(cls) -> list[tuple[str, str]]:
        return [(member.name, member.value) for member in cls]

    @classmethod
    def values(cls) -> list[str]:
        return [member.value for member in cls]

    @classmethod
    def by_steps(cls, steps: int | str) -> Performance:
        return cls[Steps(int(steps)).name]

    @classmethod
    def has_restricted_features(cls, x: Performance | str) -> bool:
        value = x.value if isinstance(x, Performance) else x
        return value in (cls.EXTREME_SPEED.value, cls.LIGHTNING.value, cls.HYPER_SD.value)

    def steps(self) -> int | None:
        member = Steps.__members__.get(self.name)
        return None if member is None else member.value

    def steps_uov(self) -> int | None:
        member = StepsUOV.__members__.get(self.name)
        return None if member is None else member.value

    def lora_filename(self) -> str | None:
        member = PerformanceLoRA.__members__.get(self.name)
        return None if member is None else member.value
