"""GET /outputs/... and /inputs/...: result and input images, nothing else."""
from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import FileResponse, Response

from ..files import IMAGE_SUFFIXES
from ..service import APIService
from .common import current_service, error_reply

router = APIRouter()


@router.get("/outputs/{path:path}", summary="A generated image")
def output_file(path: str, service: APIService = Depends(current_service)) -> Response:
    found = service.files.result_file(path)
    if found is None:
        return error_reply(404, f"no image at /outputs/{path}")
    return FileResponse(found, media_type=IMAGE_SUFFIXES[found.suffix.lower()])


@router.get("/inputs/{name}", summary="An input image, saved by its content hash")
def input_file(name: str, service: APIService = Depends(current_service)) -> Response:
    found = service.files.input_file(name)
    if found is None:
        return error_reply(404, f"no image at /inputs/{name}")
    return FileResponse(found, media_type=IMAGE_SUFFIXES[found.suffix.lower()])
