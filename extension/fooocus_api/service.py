"""The API's parts, built once per Fooocus process."""
from __future__ import annotations

import atexit
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .cluster_history import ClusterHistory
from .engine import Engine
from .files import FileRoots
from .history import HistoryStore, HistoryUnavailable, open_history
from .images import ImageSources
from .console import configure_logging
from .options import APIOptions
from .outbound import OutboundPolicy
from .records import public_record
from .task import Task
from .task_queue import TaskQueue
from .webhooks import Webhooks

if TYPE_CHECKING:
    from .cluster import Cluster

logger = logging.getLogger("fooocus_api")

HISTORY_FILE = "db.sqlite3"
INPUTS_FOLDER = "inputs"


@dataclass
class APIService:
    options: APIOptions
    engine: Engine
    files: FileRoots
    history: HistoryStore
    tasks: TaskQueue
    webhooks: Webhooks
    cluster: Cluster | None = None

    @property
    def image_sources(self) -> ImageSources:
        return ImageSources(self.files, OutboundPolicy(self.options.allow_hosts),
                            self.options.max_pixels)


_service: APIService | None = None


def start(engine: Engine) -> APIService:
    """Build the service from Fooocus's parsed flags and configuration (once)."""
    global _service
    if _service is not None:
        return _service

    configure_logging()
    options = _with_identity(APIOptions.from_args(engine.args), engine)
    _claim_cluster_name(options)  # before history marks this node's unfinished tasks
    outputs = engine.outputs_dir
    files = FileRoots(results=engine.temp_dir if engine.image_log_disabled else outputs,
                      inputs=outputs / INPUTS_FOLDER)
    history = _open_history(options, outputs)
    if options.cluster_url or options.database_url:
        history = ClusterHistory(history, options.base_url or "")
    atexit.register(history.close)  # commit what is queued when Fooocus exits normally
    tasks = TaskQueue(engine, history, files, options.webhook_url or "")
    webhooks = _start_webhooks(options, history, tasks)
    _service = APIService(options, engine, files, history, tasks, webhooks)
    if options.cluster_url:
        _service = _join_cluster(_service)
    logger.info("REST API ready; history in %s", history.location)
    return _service


def _with_identity(options: APIOptions, engine: Engine) -> APIOptions:
    """In a cluster every node has a name (in its history rows as in Redis). A node in a
    cluster, or sharing its history in PostgreSQL, names its results with its own
    address, so that a client reading the record on any node can fetch them."""
    from .node_identity import default_base_url, default_node_name

    if options.cluster_url:
        options = replace(options, node_name=options.node_name or default_node_name(engine.args))
    if options.cluster_url or options.database_url:
        options = replace(options, base_url=options.base_url or default_base_url(engine.args))
    return options


def _claim_cluster_name(options: APIOptions) -> None:
    """In a cluster, stop when a running node has this node's name."""
    if not options.cluster_url:
        return
    from .node_identity import NameTaken, claim_name
    from .redis_link import MissingRedisClient, RedisLink

    try:
        claim_name(RedisLink(options.cluster_url), options.node_name, options.cluster_timeout)
    except (MissingRedisClient, NameTaken) as error:
        logger.error("%s; Fooocus stops", error)
        raise SystemExit(2) from None


def _join_cluster(api: APIService) -> APIService:
    from .cluster import Cluster
    from .redis_link import MissingRedisClient

    try:
        cluster = Cluster(api.options, api.engine, api.tasks, api.history, api.webhooks,
                          api.image_sources, api.files)
    except MissingRedisClient as error:
        logger.error("%s", error)
        raise SystemExit(2) from None
    if api.options.database_url:
        # A late end must not overwrite the end the cluster gave the task in the shared
        # history (with SQLite, the node's own history keeps it).
        api.history.holds = cluster.holds
    api = replace(api, cluster=cluster)
    cluster.start()
    return api


def _open_history(options: APIOptions, outputs: Path) -> HistoryStore:
    """The history the flags ask for. When it cannot be opened, Fooocus stops here
    with one line saying why: it never runs with a history other than the one asked for."""
    if options.database_url and not options.node_name:
        logger.warning("--api-database-url without --api-node-name: if several nodes share "
                       "this history, give each a name of its own, or a restart of one marks "
                       "the unfinished tasks of every unnamed node interrupted")
    try:
        return open_history(outputs / HISTORY_FILE, options.node_name, options.database_url)
    except HistoryUnavailable as error:
        logger.error("%s; Fooocus stops", error)
        raise SystemExit(2) from None


def _start_webhooks(options: APIOptions, history: HistoryStore, tasks: TaskQueue) -> Webhooks:
    def keep_outcome(task_id: str, outcome: dict) -> None:
        task = tasks.get(task_id)
        if task is not None:
            task.webhook = outcome
        history.save_webhook(task_id, outcome)

    webhooks = Webhooks(OutboundPolicy(options.allow_hosts), options.webhook_tries,
                        options.webhook_backoff, options.webhook_secret, keep_outcome)

    def send_when_ended(task: Task) -> None:
        if task.webhook_url:
            base = task.base_url or options.base_url or ""
            webhooks.send(task.task_id, task.webhook_url, public_record(task.record(), base))

    tasks.on_ended(send_when_ended)
    for record in history.undelivered_webhooks(options.webhook_tries):
        if options.cluster_url and record["webhook"] is None and \
                record["task_status"] == "interrupted":
            continue  # in a cluster, the node that ends a dead node's task sends its webhook
        webhooks.send(record["task_id"], record["webhook_url"],
                      public_record(record, options.base_url or ""))
    return webhooks


def current() -> APIService:
    if _service is None:
        raise RuntimeError("the API service has not started")
    return _service
