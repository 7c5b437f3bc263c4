"""A node's view of a history that several nodes share (PostgreSQL, or a cluster).

Records keep `/outputs/...` and `/inputs/...` paths on a single machine. With a
shared history the files stay on the node that made them, so each node stores its
records with its own base URL in front: any node then shows the same record,
with URLs that lead to the node holding the files.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .history import HistoryStore, Record
from .records import public_record
from .task import TaskStatus

logger = logging.getLogger("fooocus_api")


class ClusterHistory:
    def __init__(self, store: HistoryStore, base_url: str) -> None:
        self._store = store
        self._base_url = base_url
        # Set by a cluster sharing this history: False when the cluster ended or queued
        # again, meanwhile, the task that just ended here (see Cluster.holds).
        self.holds: Callable[[str], bool] = lambda task_id: True

    def add(self, record: Record, on_row_id: Callable[[int], None]) -> None:
        shared = public_record(record, self._base_url)
        existing = self._store.get(record["task_id"])
        if existing is None:
            self._store.add(shared, on_row_id)
            return
        # A task run again after its node died: the dead node had written its record.
        self._store.save(shared)
        on_row_id(existing["id"])

    def save(self, record: Record) -> threading.Event:
        if TaskStatus(record["task_status"]).is_final and not self.holds(record["task_id"]):
            logger.warning("task %s ended here after the cluster had given it up (this node was "
                           "cut off from Redis too long): the shared history keeps the cluster's "
                           "end; this run's images stay in outputs: %s", record["task_id"],
                           ", ".join(public_record(record, self._base_url)["result"]) or "none")
            kept = threading.Event()
            kept.set()
            return kept
        return self._store.save(public_record(record, self._base_url))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)
