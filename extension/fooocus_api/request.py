"""The body of `POST /v1/engine/generate/`: FooocusAPI's wire format.

Field names are Fooocus's own parameter names. A field left out (or null) takes
the value the Gradio UI would show for it: Fooocus's configuration, including
`--preset`. Images are http(s) URLs or base64, with or without a data-URI prefix.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

UOV_METHODS = ("Disabled", "Vary (Subtle)", "Vary (Strong)", "Upscale (1.5x)",
               "Upscale (2x)", "Upscale (Fast 2x)", "Upscale (Custom)")
OUTPAINT_DIRECTIONS = ("Left", "Right", "Top", "Bottom")
IMAGE_PROMPT_TYPES = ("ImagePrompt", "FaceSwap", "PyraCanny", "CPDS")
MASK_MODELS = ("u2net", "u2netp", "u2net_human_seg", "u2net_cloth_seg", "silueta",
               "isnet-general-use", "isnet-anime", "sam")

UovMethod = Literal[UOV_METHODS]  # type: ignore[valid-type]
OutpaintDirection = Literal[OUTPAINT_DIRECTIONS]  # type: ignore[valid-type]
ImagePromptType = Literal[IMAGE_PROMPT_TYPES]  # type: ignore[valid-type]
MaskModel = Literal[MASK_MODELS]  # type: ignore[valid-type]


class Lora(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    enabled: bool = True
    model_name: str = "None"
    weight: float = Field(default=1.0, ge=-2.0, le=2.0)


class ImagePrompt(BaseModel):
    cn_img: str | None = Field(default=None, description="Image: URL or base64.")
    cn_stop: float | None = Field(default=None, ge=0.0, le=1.0,
                                  description="Default: Fooocus's default for the type.")
    cn_weight: float | None = Field(default=None, ge=0.0, le=2.0,
                                    description="Default: Fooocus's default for the type.")
    cn_type: ImagePromptType = "ImagePrompt"


class EnhanceControl(BaseModel):
    enhance_enabled: bool = False
    enhance_mask_dino_prompt: str = ""
    enhance_prompt: str = ""
    enhance_negative_prompt: str = ""
    enhance_mask_model: MaskModel = "sam"
    enhance_mask_cloth_category: Literal["full", "upper", "lower"] = "full"
    enhance_mask_sam_model: Literal["vit_b", "vit_l", "vit_h"] = "vit_b"
    enhance_mask_text_threshold: float = Field(default=0.25, ge=0.0, le=1.0)
    enhance_mask_box_threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    enhance_mask_sam_max_detections: int = Field(default=0, ge=0, le=10)
    enhance_inpaint_disable_initial_latent: bool = False
    enhance_inpaint_engine: Literal["None", "v1", "v2.5", "v2.6"] = "v2.6"
    enhance_inpaint_strength: float = Field(default=1.0, ge=0.0, le=1.0)
    enhance_inpaint_respective_field: float = Field(default=0.618, ge=0.0, le=1.0)
    enhance_inpaint_erode_or_dilate: int = Field(default=0, ge=-64, le=64)
    enhance_mask_invert: bool = False


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    prompt: str | None = None
    negative_prompt: str | None = None
    style_selections: list[str] | None = None
    performance_selection: str | None = None
    aspect_ratios_selection: str | None = Field(
        default=None, description="'1152*896' or Fooocus's own '1152×896'.")
    image_number: int | None = Field(default=None, ge=1, le=32)
    output_format: Literal["png", "jpeg", "jpg", "webp"] | None = None
    image_seed: int | None = Field(default=None, ge=-1, le=2**63 - 1,
                                   description="-1 (the default) picks a random seed.")
    read_wildcards_in_order: bool = False
    sharpness: float | None = Field(default=None, ge=0.0, le=30.0)
    guidance_scale: float | None = Field(default=None, ge=1.0, le=30.0)
    base_model_name: str | None = None
    refiner_model_name: str | None = None
    refiner_switch: float | None = Field(default=None, ge=0.1, le=1.0)
    loras: list[Lora] | None = None

    uov_method: UovMethod = "Disabled"
    uov_input_image: str | None = None
    outpaint_selections: list[OutpaintDirection] = Field(default_factory=list)
    inpaint_input_image: str | None = None
    inpaint_additional_prompt: str = ""
    inpaint_mask_image_upload: str | None = None

    disable_preview: bool = False
    disable_intermediate_results: bool = False
    disable_seed_increment: bool = False
    black_out_nsfw: bool | None = None
    adm_scaler_positive: float = Field(default=1.5, ge=0.1, le=3.0)
    adm_scaler_negative: float = Field(default=0.8, ge=0.1, le=3.0)
    adm_scaler_end: float = Field(default=0.3, ge=0.0, le=1.0)
    adaptive_cfg: float | None = Field(default=None, ge=1.0, le=30.0)
    clip_skip: int | None = Field(default=None, ge=1, le=12)
    sampler_name: str | None = None
    scheduler_name: str | None = None
    vae_name: str | None = None
    overwrite_step: int | None = Field(default=None, ge=-1, le=200)
    overwrite_switch: int | None = Field(default=None, ge=-1, le=200)
    overwrite_width: int = Field(default=-1, ge=-1, le=2048)
    overwrite_height: int = Field(default=-1, ge=-1, le=2048)
    overwrite_vary_strength: float = Field(default=-1, ge=-1, le=1.0)
    overwrite_upscale_strength: float | None = Field(default=None, ge=-1, le=1.0)
    mixing_image_prompt_and_vary_upscale: bool = False
    mixing_image_prompt_and_inpaint: bool = False
    debugging_cn_preprocessor: bool = False
    skipping_cn_preprocessor: bool = False
    canny_low_threshold: int = Field(default=64, ge=1, le=255)
    canny_high_threshold: int = Field(default=128, ge=1, le=255)
    refiner_swap_method: Literal["joint", "separate", "vae"] = "joint"
    controlnet_softness: float = Field(default=0.25, ge=0.0, le=1.0)
    freeu_enabled: bool = False
    freeu_b1: float = 1.01
    freeu_b2: float = 1.02
    freeu_s1: float = 0.99
    freeu_s2: float = 0.95
    debugging_inpaint_preprocessor: bool = False
    inpaint_disable_initial_latent: bool = False
    inpaint_engine: Literal["None", "v1", "v2.5", "v2.6"] | None = None
    inpaint_strength: float = Field(default=1.0, ge=0.0, le=1.0)
    inpaint_respective_field: float = Field(default=0.618, ge=0.0, le=1.0)
    inpaint_advanced_masking_checkbox: bool | None = None
    invert_mask_checkbox: bool | None = None
    inpaint_erode_or_dilate: int = Field(default=0, ge=-64, le=64)
    save_final_enhanced_image_only: bool | None = None
    save_metadata_to_images: bool | None = None
    metadata_scheme: Literal["fooocus", "a1111"] | None = None
    controlnet_image: list[ImagePrompt] = Field(default_factory=list)
    debugging_dino: bool = False
    dino_erode_or_dilate: int = Field(default=0, ge=-64, le=64)
    debugging_enhance_masks_checkbox: bool = False
    enhance_input_image: str | None = None
    enhance_checkbox: bool = False
    enhance_uov_method: UovMethod | None = None
    enhance_uov_processing_order: Literal["Before First Enhancement",
                                          "After Last Enhancement"] | None = None
    enhance_uov_prompt_type: Literal["Original Prompts",
                                     "Last Filled Enhancement Prompts"] | None = None
    enhance_ctrls: list[EnhanceControl] = Field(default_factory=list)
    generate_image_grid: bool = False

    outpaint_distance: list[Annotated[int, Field(ge=0, le=2048)]] = Field(
        default_factory=lambda: [0, 0, 0, 0], min_length=4, max_length=4,
        description="Outpaint distance in pixels: [left, top, right, bottom].")
    upscale_multiple: float = Field(default=1.0, ge=1.0, le=5.0,
                                    description="Factor for uov_method 'Upscale (Custom)'.")
    preset: str | None = Field(default=None, description="A Fooocus preset supplying defaults.")
    stream_output: bool = False
    async_process: bool = False
    require_base64: bool = False
    webhook_url: str | None = ""
    retry_on_node_loss: bool = Field(
        default=False, description="In a cluster: if the node running the task stops "
                                   "answering, run the task once more on another node "
                                   "(otherwise it ends 'interrupted').")

    # Accepted for FooocusAPI compatibility; the worker decides them from the images given.
    input_image_checkbox: bool | None = None
    current_tab: str | None = None
