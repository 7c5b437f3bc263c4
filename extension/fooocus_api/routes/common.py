"""What every route needs: the service, the base of URLs, and error replies."""
from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from .. import service as service_module
from ..arguments import RequestError
from ..images import ImageTooLarge
from ..service import APIService


async def current_service() -> APIService:
    return service_module.current()


def base_url(request: Request, service: APIService) -> str:
    if service.options.base_url:
        return service.options.base_url
    return str(request.base_url).rstrip("/")


def request_error_reply(error: RequestError) -> JSONResponse:
    """The same shape as FastAPI's own validation errors, plus the allowed values."""
    location = [part for part in re.split(r"[\[\].]", error.field) if part]
    detail: dict[str, Any] = {"loc": ["body", *location],
                              "msg": error.message, "type": "value_error"}
    if error.allowed is not None:
        detail["allowed"] = error.allowed
    status_code = 413 if isinstance(error, ImageTooLarge) else 422
    return JSONResponse({"detail": [detail]}, status_code=status_code)


def error_reply(status_code: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status_code)
