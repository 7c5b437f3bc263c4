"""The API's HTTP routes, one module per resource."""
from __future__ import annotations

from fastapi import APIRouter

from . import engines, files, generate, tasks


def api_router() -> APIRouter:
    router = APIRouter()
    for module in (generate, tasks, files, engines):
        router.include_router(module.router)
    return router
