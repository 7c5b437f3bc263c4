"""`GET /tasks?action=delete`: deleting a window of history and its result images.

Records go in batches, newest first, each batch's images removed (by the node
that holds them, in a cluster) before the next, so a window of any size is
deleted with bounded memory and every answer from another node comes in time.
The reply lists the first LISTED records deleted; `deleted.tasks` counts all.
"""
from __future__ import annotations

import logging
from typing import Any

from .records import absolute_url, public_record
from .result_removal import remove_local
from .service import APIService

logger = logging.getLogger("fooocus_api")

BATCH = 1000
LISTED = 1000

Record = dict[str, Any]


def delete_window(service: APIService, start: int, end: int, base: str) -> dict[str, Any]:
    """Delete the ended tasks queued in [start, end] and their images; the reply body."""
    listed: list[Record] = []
    removed: list[str] = []
    left: list[Record] = []
    count = 0
    while True:
        batch = service.history.delete_between(start, end, BATCH)
        count += len(batch)
        _forget([record["task_id"] for record in batch], service)
        files = _delete_results(batch, service)
        removed += [absolute_url(url, base) for url in files["removed"]]
        left = _merged(left, [_with_full_urls(entry, base) for entry in files["left"]])
        listed += [_without_node(public_record(record, base))
                   for record in batch[:LISTED - len(listed)]]
        if len(batch) < BATCH:
            break
    logger.info("deleted %d history record(s) and %d image(s); %d image(s) left", count,
                len(removed), sum(len(entry["files"]) for entry in left))
    return {"history": listed, "current": [], "pending": [],
            "deleted": {"tasks": count, "files": removed, "files_left": left}}


def _forget(task_ids: list[str], service: APIService) -> None:
    """Deleted tasks leave this node's memory, and the cluster's live state."""
    if not task_ids:
        return
    service.tasks.forget(task_ids)
    if service.cluster is not None:
        service.cluster.forget(task_ids)


def _delete_results(records: list[Record], service: APIService) -> dict[str, Any]:
    """Each result file removed by the node that holds it (in a cluster, others are asked)."""
    if not records:
        return {"removed": [], "left": []}
    if service.cluster is not None:
        return service.cluster.delete_results(records)
    return remove_local(records, service.files, service.history.node,
                        shared_history=bool(service.options.database_url))


def _merged(left: list[Record], more: list[Record]) -> list[Record]:
    """One entry per node, address and reason across batches."""
    by_key = {_key(entry): entry for entry in left}
    for entry in more:
        kept = by_key.setdefault(_key(entry), entry)
        if kept is not entry:
            kept["files"] += entry["files"]
    return list(by_key.values())


def _key(entry: Record) -> tuple[Any, ...]:
    return entry["node"], entry["base_url"], entry["reason"]


def _with_full_urls(left: Record, base: str) -> Record:
    return {**left, "files": [absolute_url(url, base) for url in left["files"]]}


def _without_node(record: Record) -> Record:
    record.pop("node", None)  # a history record on the wire has no node (see GET /tasks)
    return record
