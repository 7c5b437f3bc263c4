"""/tasks: the queue as Fooocus's worker sees it, and the history behind it."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ..history_deletion import delete_window
from ..records import public_record
from ..redis_link import ClusterUnavailable
from ..service import APIService
from ..task import Task
from ..task_queue import TaskConflict, TaskNotFound
from .common import JSONResponse, base_url, current_service, error_reply

logger = logging.getLogger("fooocus_api")

router = APIRouter()

MAX_PAGE = 1_000_000
TIME_HELP = ("ISO 8601, e.g. 2024-07-03T12:22:30 or 2024-07-03T12:22:30+02:00; "
             "without a time zone it is the server's local time.")


@router.get("/tasks", summary="Current, pending and past tasks")
async def list_tasks(request: Request,
                     query: Literal["all", "current", "pending", "history"] = "all",
                     page: int = Query(0, ge=0, le=MAX_PAGE, description="0 is the first page."),
                     page_size: int = Query(10, ge=1, le=100),
                     start_at: str | None = Query(None, description=TIME_HELP),
                     end_at: str | None = Query(None, description=TIME_HELP + " Default: now."),
                     action: Literal["delete"] | None = Query(
                         None, description="'delete': delete the history records queued "
                                           "between start_at and end_at, and their images."),
                     service: APIService = Depends(current_service)) -> Response:
    """Always `{"history": [], "current": [], "pending": []}`; history is newest first."""
    try:
        window = time_window(start_at, end_at)
    except TimeError as error:
        return JSONResponse({"detail": [{"loc": ["query", error.field], "msg": error.message,
                                         "type": "value_error"}]}, status_code=422)

    base = base_url(request, service)
    if action == "delete":
        return await _delete_history(window, service, base)

    listing: dict[str, list[Any]] = {"history": [], "current": [], "pending": []}
    if service.cluster is not None:
        listing.update(await run_in_threadpool(_cluster_queue, service, query, page, page_size))
    elif query in ("all", "current"):
        running = service.tasks.current()
        listing["current"] = [await _live_record(running, service, base)] if running else []
    if service.cluster is None and query in ("all", "pending"):
        pending = service.tasks.pending()[page * page_size:(page + 1) * page_size]
        listing["pending"] = [await _live_record(task, service, base) for task in pending]
    if query in ("all", "history"):
        start, end = window if (start_at or end_at) is not None else (None, None)
        rows = await run_in_threadpool(service.history.page, page_size, page * page_size,
                                       start, end)
        listing["history"] = [public_record(row, base) for row in rows]
    return JSONResponse(listing)


def _cluster_queue(service: APIService, query: str, page: int,
                   page_size: int) -> dict[str, list[Any]]:
    """What runs and waits anywhere in the cluster."""
    listing: dict[str, list[Any]] = {}
    if query in ("all", "current"):
        listing["current"] = service.cluster.current()
    if query in ("all", "pending"):
        listing["pending"] = service.cluster.pending()[page * page_size:(page + 1) * page_size]
    return listing


async def _delete_history(window: tuple[int, int], service: APIService, base: str) -> Response:
    start, end = window
    if start is None:
        return JSONResponse({"detail": [{"loc": ["query", "start_at"], "type": "value_error",
                                         "msg": "action=delete needs start_at (and optionally "
                                                "end_at); nothing was deleted"}]},
                            status_code=422)

    if service.cluster is not None:
        # Fail before deleting anything, rather than leave images nobody is told about.
        await run_in_threadpool(service.cluster.check_reachable)
    # In a worker thread as a whole, reply included: a large window is a large reply.
    return await run_in_threadpool(
        lambda: JSONResponse(delete_window(service, start, end, base)))


class TimeError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def time_window(start_at: str | None, end_at: str | None) -> tuple[int | None, int]:
    """Milliseconds since the epoch; raises TimeError naming the field."""
    start = parse_instant("start_at", start_at) if start_at is not None else None
    end = parse_instant("end_at", end_at) if end_at is not None else int(time.time() * 1000)
    if start is not None and start > end:
        raise TimeError("end_at", f"end_at ({end_at or 'now'}) is before start_at ({start_at})")
    return start, end


def parse_instant(field: str, text: str) -> int:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        if moment.tzinfo is None:
            moment = _local(moment)
        return int(moment.timestamp() * 1000)
    except (ValueError, OverflowError, OSError):
        # An unencoded '+' in a URL query arrives as a space.
        hint = " (write '+' as %2B in a URL)" if " " in text.strip() else ""
        raise TimeError(field, f"'{text}' is not an ISO 8601 date and time this server "
                               f"can place, e.g. 2024-07-03T12:00:00Z{hint}") from None


def _local(moment: datetime) -> datetime:
    """A naive time in the server's time zone; at the very ends of the calendar (year 1,
    year 9999), where the zone cannot be looked up, taken as UTC."""
    try:
        return moment.astimezone()
    except (OverflowError, OSError, ValueError):
        return moment.replace(tzinfo=timezone.utc)


@router.get("/tasks/{task_id}", summary="One task; with its preview while it runs")
async def get_task(task_id: str, request: Request,
                   service: APIService = Depends(current_service)) -> Response:
    base = base_url(request, service)
    shared, cluster_answered = await _cluster_record(task_id, service)
    if shared is not None:
        return JSONResponse(shared)
    task = service.tasks.get(task_id)
    # A cluster that answered knows every live task; an ended one it has forgotten
    # (or whose history was deleted) is read from history, not from this node's memory.
    if task is not None and not (cluster_answered and task.status.is_final):
        return JSONResponse(await _live_record(task, service, base))

    record = await run_in_threadpool(service.history.get, task_id)
    if record is None:
        return error_reply(404, f"no task {task_id}")
    return JSONResponse(public_record(record, base))


async def _cluster_record(task_id: str,
                          service: APIService) -> tuple[dict[str, Any] | None, bool]:
    """The task as every node of the cluster sees it, and whether the cluster answered:
    (None, False) outside a cluster or while Redis is away (then this node's own view
    answers); (None, True) for a task the cluster does not know."""
    if service.cluster is None:
        return None, False
    try:
        return await run_in_threadpool(service.cluster.live_record, task_id), True
    except ClusterUnavailable:
        return None, False


@router.delete("/tasks/{task_id}", summary="Cancel a pending task")
async def cancel_task(task_id: str, request: Request,
                      service: APIService = Depends(current_service)) -> Response:
    try:
        if service.cluster is not None:
            return JSONResponse(await run_in_threadpool(service.cluster.cancel, task_id))
        task = await run_in_threadpool(service.tasks.cancel, task_id)
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
        if service.cluster is not None:
            return JSONResponse(await run_in_threadpool(service.cluster.control, body.action,
                                                        body.task_id))
        task = service.tasks.control(body.action, body.task_id)
    except TaskNotFound:
        return error_reply(404, f"no running task {body.task_id}")
    except TaskConflict as conflict:
        return error_reply(409, str(conflict))
    return JSONResponse(public_record(task.record(), base_url(request, service)))


async def _live_record(task: Task, service: APIService, base: str) -> dict[str, Any]:
    record = public_record(task.record(), base)
    preview = task.latest_preview
    record["preview"] = await preview.encoded() if preview is not None else None
    record["position"] = service.tasks.position(task)
    return record
