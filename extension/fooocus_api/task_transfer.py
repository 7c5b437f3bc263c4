"""A validated request as it travels through the cluster's queue, and back into a task.

The node that accepts a request checks it exactly as a single node does and
resolves its images. What it queues is that request with every image replaced
by a base64 PNG of the resolved picture (so no node downloads anything again),
the preset already applied and the seed already drawn, so that whichever node
takes it builds the same `AsyncTask`.
"""
from __future__ import annotations

import base64
import json
from typing import Any

from .arguments import build_arguments
from .files import png_bytes
from .images import ImageSources, ResolvedImages, resolve_images
from .engine import Engine
from .request import GenerateRequest
from .task import Task

IMAGE_FIELDS = {"uov": "uov_input_image", "inpaint": "inpaint_input_image",
                "mask": "inpaint_mask_image_upload", "enhance": "enhance_input_image"}


def transfer_request(body: GenerateRequest, resolved: ResolvedImages, seed: int) -> dict[str, Any]:
    """The request as another node will rebuild it."""
    request = body.model_dump(mode="json")
    request.update(image_seed=seed, preset=None, webhook_url="")
    arrays = resolved.arrays
    for attribute, name in IMAGE_FIELDS.items():
        image = getattr(arrays, attribute)
        request[name] = _base64_png(image) if image is not None else None
    for slot, image in enumerate(arrays.prompts):
        request["controlnet_image"][slot]["cn_img"] = (_base64_png(image) if image is not None
                                                       else None)
    return request


def queue_entry(task: Task, request: dict[str, Any], retry: bool) -> dict[str, str]:
    return {"task_id": task.task_id, "request": json.dumps(request),
            "params": json.dumps(task.params), "webhook_url": task.webhook_url,
            "in_queue_mills": str(task.in_queue_mills), "retry": "1" if retry else "0"}


def rebuild(entry: dict[str, str], engine: Engine, sources: ImageSources) -> Task:
    """The task a queue entry describes, ready for this node's worker; raises RequestError."""
    body = GenerateRequest.model_validate(json.loads(entry["request"]))
    resolved = resolve_images(body, sources)
    arguments = build_arguments(body, resolved.arrays, engine)
    fooocus_task = engine.new_task(arguments.values)
    for name, value in arguments.attributes.items():
        setattr(fooocus_task, name, value)
    return Task(fooocus_task=fooocus_task, source="api", params=json.loads(entry["params"]),
                webhook_url=entry["webhook_url"], task_id=entry["task_id"],
                in_queue_mills=int(entry["in_queue_mills"]))


def _base64_png(image: Any) -> str:
    return base64.b64encode(png_bytes(image)).decode("ascii")
