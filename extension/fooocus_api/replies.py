"""The reply modes of `POST /v1/engine/generate/`, each a thin view over one Task.

- async:  the record at once (`task_status: pending`)
- stream: Server-Sent Events, one per worker update, the last with the images
- binary: the first image's bytes, in the format the Accept header asks for
- sync:   the finished record as JSON (binary mode with `Accept: application/json`)

Nothing here polls: every wait is on the task's change signal. A client that
goes away stops only its own reply; the task runs on.
"""
from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from PIL import Image
from starlette.responses import FileResponse, Response, StreamingResponse

from .files import IMAGE_SUFFIXES, FileRoots
from .routes.common import JSONResponse
from .records import absolute_url, public_record
from .task import Task, TaskStatus, Update

KEEP_ALIVE_SECONDS = 15.0
JSON_TYPE = "application/json"
FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/webp": "webp"}
PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
ENDED_WITHOUT_IMAGE = {TaskStatus.FAILED: 422}
NODE_FETCH_TIMEOUT_SECONDS = 30.0


async def until_ended(task: Task) -> None:
    version = task.changed.version
    while not task.status.is_final:
        version = await task.changed.wait(version)


def async_reply(task: Task, base_url: str) -> JSONResponse:
    return JSONResponse(public_record(task.record(), base_url))


async def sync_reply(task: Task, base_url: str) -> JSONResponse:
    await until_ended(task)
    return JSONResponse(public_record(task.record(), base_url))


def stream_reply(task: Task, base_url: str) -> StreamingResponse:
    return StreamingResponse(_events(task, base_url), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _events(task: Task, base_url: str) -> AsyncIterator[str]:
    cursor = 0
    version = task.changed.version
    while True:
        updates = task.updates_since(cursor)
        cursor += len(updates)
        for update in updates:
            yield await _event(task, update, base_url)
            if update.final:
                return

        try:
            version = await asyncio.wait_for(task.changed.wait(version), KEEP_ALIVE_SECONDS)
        except asyncio.TimeoutError:
            yield ": keep-alive\n\n"


async def _event(task: Task, update: Update, base_url: str) -> str:
    preview = update.preview
    event = {
        "progress": update.progress,
        "preview": await preview.encoded() if preview is not None else None,
        "message": update.message,
        "images": [absolute_url(path, base_url) for path in task.results] if update.final else [],
    }
    if update.final:
        event["task_id"] = task.task_id
        event["task_status"] = task.status.value
    return f"data: {json.dumps(event)}\n\n"


async def binary_reply(task: Task, accept: str, files: FileRoots, base_url: str,
                       api_key: str | None = None) -> Response:
    await until_ended(task)
    if task.status is not TaskStatus.FINISHED or not task.results:
        status_code = ENDED_WITHOUT_IMAGE.get(task.status, 409)
        record = public_record(task.record(), base_url)
        return JSONResponse({"detail": task.message, "task": record}, status_code=status_code)

    wanted = wanted_format(accept, getattr(task.fooocus_task, "output_format", "png"))
    if task.results[0].startswith(("http://", "https://")):
        return await _image_from_node(task.results[0], wanted, api_key)

    path = files.result_file(task.results[0].removeprefix("/outputs/"))
    if path is None:
        return JSONResponse({"detail": f"the image of task {task.task_id} is gone from disk"},
                            status_code=410)

    if _format_of(path) == wanted:
        return FileResponse(path, media_type=_media_type(wanted))
    body = await asyncio.to_thread(convert, path, wanted)
    return Response(body, media_type=_media_type(wanted))


async def _image_from_node(url: str, wanted: str, api_key: str | None) -> Response:
    """A result another node of the cluster made, fetched from that node's own URL."""
    headers = {"X-API-KEY": api_key} if api_key else {}
    async with httpx.AsyncClient(timeout=NODE_FETCH_TIMEOUT_SECONDS, trust_env=False) as client:
        fetched = await client.get(url, headers=headers)
    if fetched.status_code != 200:
        return JSONResponse({"detail": f"the node holding {url} answered {fetched.status_code}"},
                            status_code=502)
    body = fetched.content
    if FORMATS.get(fetched.headers.get("content-type", "")) != wanted:
        body = await asyncio.to_thread(convert_bytes, body, wanted)
    return Response(body, media_type=_media_type(wanted))


def wanted_format(accept: str, default: str) -> str:
    """The image type the Accept header prefers ('json' for application/json);
    the task's output format when it names none of them."""
    ranked = sorted(_accepted(accept), key=lambda choice: -choice[1])
    for media_type, _ in ranked:
        if media_type == JSON_TYPE:
            return "json"
        if media_type in FORMATS:
            return FORMATS[media_type]
    return "jpeg" if default == "jpg" else default


def _accepted(accept: str) -> list[tuple[str, float]]:
    """(media type, q) for each type the header names with q > 0, in header order."""
    choices = []
    for part in accept.split(","):
        media_type, *parameters = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media_type and quality > 0:
            choices.append((media_type.lower(), quality))
    return choices


def convert(path: Path, image_format: str) -> bytes:
    return convert_bytes(path.read_bytes(), image_format)


def convert_bytes(data: bytes, image_format: str) -> bytes:
    with Image.open(io.BytesIO(data)) as picture:
        buffer = io.BytesIO()
        picture.convert("RGB").save(buffer, format=PIL_FORMATS[image_format])
    return buffer.getvalue()


def _format_of(path: Path) -> str:
    return "jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else path.suffix.lower().lstrip(".")


def _media_type(image_format: str) -> str:
    return IMAGE_SUFFIXES["." + image_format]
