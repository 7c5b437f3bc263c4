"""/tasks: the queue as Fooocus's worker sees it, and the history behind it."""
from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response

from ..records import public_record
from ..service import APIService
from ..task import Task
from ..task_queue import TaskConflict, TaskNotFound
from .common import base_url, current_service, error_reply

router = APIRouter()


@router.get("/tasks", summary="Current, pending and past tasks")
async def list_tasks(request: Request,
                     query: Literal["all", "current", "pending", "history"] = "all",
                     page: int = Query(0, ge=0, description="0 is the first page."),
                     page_size: int = Query(10, ge=1, le=100),
                     service: APIService = Depends(current_service)) -> dict[str, list[Any]]:
    base = base_url(request, service)
    listing: dict[str, list[Any]] = {"history": [], "current": [], "pending": []}
    if query in ("all", "current"):
        running = service.tasks.current()
        listing["current"] = [await _live_record(running, service, base)] if running else []
    if query in ("all", "pending"):
        pending = service.tasks.pending()[page * page_size:(page + 1) * page_size]
        listing["pending"] = [await _live_record(task, service, base) for task in pending]
    if query in ("all", "history"):
        rows = service.history.page(page_size, page * page_size)
        listing["history"] = [public_record(row, base) for row in rows]
    return listing


@router.get("/tasks/{task_id}", summary="One task; with its preview while it runs")
async def get_task(task_id: str, request: Request,
                   service: APIService = Depends(current_service)) -> Response:
    base = base_url(request, service)
    task = service.tasks.get(task_id)
    if task is not None:
        return JSONResponse(await _live_record(task, service, base))

    record = service.history.get(task_id)
    if record is None:
        return error_reply(404, f"no task {task_id}")
    return JSONResponse(public_record(record, base))


@router.delete("/tasks/{task_id}", summary="Cancel a pending task")
async def cancel_task(task_id: str, request: Request,
                      service: APIService = Depends(current_service)) -> Response:
    try:
        task = service.tasks.cancel(task_id)
    except TaskNotFound:
        return error_reply(404, f"no pending or running task {task_id}")
    except TaskConflict as conflict:
        return error_reply(409, str(conflict))
    return JSONResponse(public_record(task.record(), base_url(request, service)))


class Control(BaseModel):
    action: Literal["stop", "skip"]
    task_id: str | None = None


@router.post("/v1/engine/control", summary="Stop or skip the running task")
async def control(body: Control, request: Request,
                  service: APIService = Depends(current_service)) -> Response:
    """Acts like the UI's Stop and Skip buttons, on whichever task is running
    (from the API or the UI). With `task_id`, only if that task is the one running."""
    try:
        task = service.tasks.control(body.action, body.task_id)
    except TaskConflict as conflict:
        return error_reply(409, str(conflict))
    return JSONResponse(public_record(task.record(), base_url(request, service)))


async def _live_record(task: Task, service: APIService, base: str) -> dict[str, Any]:
    record = public_record(task.record(), base)
    preview = task.latest_preview
    record["preview"] = await preview.encoded() if preview is not None else None
    record["position"] = service.tasks.position(task)
    return record
