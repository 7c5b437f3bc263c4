"""/docs and /v1/openapi.json: the API's own schema, without Gradio's routes."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from starlette.responses import HTMLResponse

from .common import JSONResponse

from .. import __version__

OPENAPI_PATH = "/v1/openapi.json"


def docs_router() -> APIRouter:
    router = APIRouter()

    @router.get(OPENAPI_PATH, include_in_schema=False)
    @router.get("/openapi.json", include_in_schema=False)
    def openapi() -> JSONResponse:
        return JSONResponse(api_schema())

    @router.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=OPENAPI_PATH, title="Fooocus REST API")

    return router


@lru_cache(maxsize=1)
def api_schema() -> dict[str, Any]:
    from . import api_router

    return get_openapi(title="Fooocus REST API", version=__version__,
                       routes=api_router().routes)
