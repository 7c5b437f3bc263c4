"""What every route needs: the service, the base of URLs, and error replies."""
from __future__ import annotations

import re
from typing import Any

import json
import math

from fastapi import Request
from fastapi.responses import JSONResponse as StarletteJSONResponse

from .. import service as service_module
from ..arguments import RequestError
from ..images import ImageTooLarge
from ..service import APIService


class JSONResponse(StarletteJSONResponse):
    """ASCII-escaped JSON: a request's text with lone surrogates still makes a valid reply."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False,
                          separators=(",", ":")).encode("ascii")


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


async def history_unavailable_reply(request: Request, error: Exception) -> JSONResponse:
    """The history database is out of reach (PostgreSQL down): 503, the client may retry."""
    return error_reply(503, str(error))


async def validation_error_reply(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422, with inputs such as NaN or 1e999 shown as text so the reply is JSON."""
    errors = getattr(error, "errors", lambda: [])()
    return JSONResponse({"detail": [_printable(item) for item in errors]}, status_code=422)


def _printable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {str(key): _printable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_printable(item) for item in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
