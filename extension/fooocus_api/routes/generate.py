"""POST /v1/engine/generate/: a request becomes a task on Fooocus's worker."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from .. import replies
from ..arguments import RequestError, build_arguments
from ..images import ResolvedImages, resolve_images
from ..model_files import ModelFiles
from ..catalog import Catalog
from ..outbound import OutboundPolicy, OutboundRefused
from ..presets import apply_preset
from ..request import GenerateRequest
from ..service import APIService
from ..remote_task import RemoteTask
from ..task import Task
from ..task_transfer import transfer_request
from .common import base_url, current_service, request_error_reply

router = APIRouter()


@router.post("/v1/engine/generate/", summary="Generate images")
@router.post("/v1/engine/generate", include_in_schema=False)
async def generate(body: GenerateRequest, request: Request,
                   service: APIService = Depends(current_service)) -> Response:
    """Queue a generation. The reply mode follows from `stream_output` and
    `async_process`; with both false the reply is the image itself (or, with
    `Accept: application/json`, the finished record)."""
    binary = not (body.stream_output or body.async_process)
    if binary:
        body.image_number = 1

    try:
        task, transfer = await run_in_threadpool(_new_task, body, service,
                                                 base_url(request, service))
    except RequestError as error:
        return request_error_reply(error)

    if service.cluster is not None:
        return await _queue_in_cluster(task, transfer, body, request, service)
    if body.async_process and not body.stream_output:
        # The record as queued: the worker may take the task before this reply is sent.
        reply = replies.async_reply(task, base_url(request, service))
        service.tasks.submit(task)
        return reply
    service.tasks.submit(task)
    return await _reply(task, body, request, service)


def _new_task(body: GenerateRequest, service: APIService,
              base: str) -> tuple[Task, dict[str, Any] | None]:
    """The task, and in a cluster the request as another node will rebuild it."""
    webhook_url = _checked_webhook_url(body.webhook_url or service.options.webhook_url, service)
    body = apply_preset(body, Catalog(service.engine))
    resolved = resolve_images(body, service.image_sources)
    arguments = build_arguments(body, resolved.arrays, service.engine)
    fooocus_task = service.engine.new_task(arguments.values)
    for name, value in arguments.attributes.items():
        setattr(fooocus_task, name, value)
    ModelFiles(service.engine).check_task(fooocus_task)
    task = Task(fooocus_task=fooocus_task, source="api",
                params=_recorded_params(body, resolved, arguments.seed),
                webhook_url=webhook_url, base_url=base)
    if service.cluster is None:
        return task, None
    return task, transfer_request(body, resolved, arguments.seed)


async def _queue_in_cluster(task: Task, transfer: dict[str, Any] | None, body: GenerateRequest,
                            request: Request, service: APIService) -> Response:
    """Any worker node of the cluster runs it; the reply follows it wherever it runs."""
    cluster = service.cluster
    await run_in_threadpool(cluster.submit, task, transfer or {}, body.retry_on_node_loss)
    if body.async_process and not body.stream_output:
        return replies.async_reply(task, base_url(request, service))
    remote = await run_in_threadpool(cluster.follow, task.task_id)
    return await _reply(remote, body, request, service)


def _checked_webhook_url(url: str | None, service: APIService) -> str:
    if not url:
        return ""
    try:
        OutboundPolicy(service.options.allow_hosts).check(url)
    except OutboundRefused as refusal:
        raise RequestError("webhook_url", str(refusal)) from None
    return url


def _recorded_params(body: GenerateRequest, resolved: ResolvedImages, seed: int) -> dict[str, Any]:
    """The request as history keeps it: images replaced by their /inputs/ paths."""
    params = body.model_dump(mode="json")
    params["image_seed"] = seed
    for name, url_path in resolved.url_paths.items():
        if name.startswith("controlnet_image["):
            slot = int(name.split("[")[1].split("]")[0])
            params["controlnet_image"][slot]["cn_img"] = url_path
        else:
            params[name] = url_path
    return params


async def _reply(task: Task | RemoteTask, body: GenerateRequest, request: Request,
                 service: APIService) -> Response:
    base = base_url(request, service)
    if body.stream_output:
        return replies.stream_reply(task, base)

    accept = request.headers.get("accept", "")
    if replies.wanted_format(accept, "png") == "json":
        return await replies.sync_reply(task, base)
    return await replies.binary_reply(task, accept, service.files, base, service.options.key)
