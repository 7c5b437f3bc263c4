"""A node's connection to the cluster's Redis, and the names of everything kept there.

Redis holds what the nodes share: the queue, each task's live state and events,
the nodes' heartbeats and their control messages. Background threads go through
`retry`, which keeps trying with backoff while Redis is away and logs the loss
and the return once each; a request goes through `now`, which fails at once
with `ClusterUnavailable` (a 503) so no client waits on a dead link.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

logger = logging.getLogger("fooocus_api")

T = TypeVar("T")

PREFIX = "fooocus_api"
QUEUE = f"{PREFIX}:tasks"
WORKERS_GROUP = "workers"
HELD = f"{PREFIX}:held"  # tasks a node holds: taken from the queue, or from its UI
FIRST_BACKOFF_SECONDS = 0.2
LAST_BACKOFF_SECONDS = 10.0
SOCKET_TIMEOUT_SECONDS = 10.0


def state_key(task_id: str) -> str:
    return f"{PREFIX}:task:{task_id}"


def events_key(task_id: str) -> str:
    return f"{PREFIX}:events:{task_id}"


def heartbeat_key(node: str) -> str:
    return f"{PREFIX}:node:{node}"


def control_key(node: str) -> str:
    return f"{PREFIX}:control:{node}"


def reply_key(request_id: str) -> str:
    return f"{PREFIX}:reply:{request_id}"


class ClusterUnavailable(RuntimeError):
    """Redis could not be reached for a request; becomes a 503."""


class MissingRedisClient(RuntimeError):
    pass


def import_redis() -> Any:
    try:
        import redis
    except ImportError:
        raise MissingRedisClient(
            "--api-cluster needs the redis-py client in Fooocus's Python: "
            "python install.py PATH --deps --cluster, or "
            "pip install -r requirements-cluster.txt (from the fooocus_api repository)") from None
    return redis


class RedisLink:
    def __init__(self, url: str) -> None:
        redis = import_redis()
        self._errors = (redis.ConnectionError, redis.TimeoutError)
        self.client = redis.Redis.from_url(url, decode_responses=True,
                                           socket_timeout=SOCKET_TIMEOUT_SECONDS,
                                           socket_connect_timeout=2.0,
                                           health_check_interval=5)
        self.url = url
        self._lost = False
        self._lock = threading.Lock()

    def now(self, action: Callable[[Any], T]) -> T:
        try:
            result = action(self.client)
        except self._errors as error:
            self._report_loss(error)
            raise ClusterUnavailable(f"the cluster's Redis is unreachable: {error}") from None
        self._report_return()
        return result

    def retry(self, action: Callable[[Any], T]) -> T:
        """Run `action` until Redis answers; for background threads only."""
        delay = FIRST_BACKOFF_SECONDS
        while True:
            try:
                result = action(self.client)
            except self._errors as error:
                self._report_loss(error)
                time.sleep(delay)
                delay = min(delay * 2, LAST_BACKOFF_SECONDS)
                continue
            self._report_return()
            return result

    def script(self, source: str) -> Any:
        return self.client.register_script(source)

    def _report_loss(self, error: Exception) -> None:
        with self._lock:
            if self._lost:
                return
            self._lost = True
        logger.warning("cluster: lost Redis at %s (%s); running tasks go on, reconnecting",
                       _without_password(self.url), error)

    def _report_return(self) -> None:
        if not self._lost:
            return
        with self._lock:
            if not self._lost:
                return
            self._lost = False
        logger.info("cluster: Redis at %s is back", _without_password(self.url))


def _without_password(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"
