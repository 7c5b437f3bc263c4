"""Listings of what Fooocus offers, and its describe and mask tools."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from .. import loop_lag, tools
from ..arguments import RequestError
from ..catalog import Catalog
from ..images import decode_image, read_image_bytes
from ..model_files import ModelFiles
from ..request import MaskModel
from ..service import APIService
from .common import JSONResponse, current_service, request_error_reply

router = APIRouter()


@router.get("/v1/engines/all-models", summary="Checkpoints and LoRAs (folders re-read)")
async def all_models(service: APIService = Depends(current_service)) -> dict[str, list[str]]:
    catalog = Catalog(service.engine)
    await run_in_threadpool(catalog.refresh)
    return {"model_filenames": catalog.models, "lora_filenames": catalog.loras}


@router.get("/v1/engine/status", summary="Queue length, running task and event-loop lag")
async def status(service: APIService = Depends(current_service)) -> dict:
    running = service.tasks.current()
    return {"running": running.task_id if running is not None else None,
            "pending": len(service.tasks.pending()),
            "event_loop_lag": loop_lag.monitor().summary()}


@router.get("/v1/engines/styles", summary="Style names")
async def styles(service: APIService = Depends(current_service)) -> list[str]:
    return Catalog(service.engine).styles


@router.get("/v1/engines/presets", summary="Preset names")
async def presets(service: APIService = Depends(current_service)) -> list[str]:
    return await run_in_threadpool(lambda: Catalog(service.engine).presets)


class DescribeRequest(BaseModel):
    image: str = Field(description="http(s) URL or base64, with or without a data-URI prefix.")
    image_type: Literal["Photo", "Anime"] = "Photo"


@router.post("/v1/tools/describe-image", summary="Describe an image as a prompt")
async def describe_image(body: DescribeRequest,
                         service: APIService = Depends(current_service)) -> Response:
    return await _run_tool(service, body.image, tools.describe, body.image_type,
                           reply=lambda text: {"describe": text},
                           check=lambda files: files.check_describe(body.image_type))


class MaskRequest(BaseModel):
    image: str = Field(description="http(s) URL or base64, with or without a data-URI prefix.")
    mask_model: MaskModel = "isnet-general-use"
    cloth_category: Literal["full", "upper", "lower"] = "full"
    dino_prompt_text: str = ""
    sam_model: Literal["vit_b", "vit_l", "vit_h"] = "vit_b"
    box_threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    text_threshold: float = Field(default=0.25, ge=0.0, le=1.0)
    sam_max_detections: int = Field(default=0, ge=0, le=10)
    dino_erode_or_dilate: int = Field(default=0, ge=-64, le=64)
    dino_debug: bool = False


@router.post("/v1/tools/generate_mask", summary="A mask for inpainting, as base64 PNG")
async def generate_mask(body: MaskRequest,
                        service: APIService = Depends(current_service)) -> Response:
    return await _run_tool(service, body.image, tools.generate_mask, body.model_dump(),
                           reply=lambda mask: mask,
                           check=lambda files: files.check_mask(body.mask_model, body.sam_model))


async def _run_tool(service: APIService, source: str, tool: Callable[..., Any], option: Any,
                    reply: Callable[[Any], Any],
                    check: Callable[[ModelFiles], None]) -> Response:
    try:
        image = await run_in_threadpool(_prepare, check, source, service)
    except RequestError as error:
        return request_error_reply(error)
    result = await run_in_threadpool(service.tasks.run_exclusive, tool, image, option)
    return JSONResponse(reply(result))


def _prepare(check: Callable[[ModelFiles], None], source: str, service: APIService) -> Any:
    """The tool's image, once its model files are known to be there."""
    check(ModelFiles(service.engine))
    return _load("image", source, service)


def _load(field_name: str, source: str, service: APIService):
    sources = service.image_sources
    return decode_image(field_name, read_image_bytes(field_name, source, sources.policy),
                        sources.max_pixels)
