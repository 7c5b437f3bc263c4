"""This node's part in a cluster of Fooocus machines sharing one queue in Redis.

Threads of a node (all daemons):
- feeder (worker nodes only): when this node's worker is idle, take one task
  from the shared queue, rebuild it and run it through the local TaskQueue;
- publisher (task_events.py): every local task's state and events to Redis;
- heartbeat: refresh this node's heartbeat key, keep its queue entries claimed,
  and end (or re-queue) the tasks of nodes whose heartbeat expired;
- control (node_control.py): stop, skip and cancel asked by other nodes.

Requests on any node go through the methods below, so `/tasks/{id}`, cancel,
stop and skip answer the same wherever the task runs.
"""
from __future__ import annotations

import json
import logging
import math
import threading
import time
from typing import Any

from .engine import Engine
from .files import FileRoots
from .history import HistoryStore
from .images import ImageSources
from .node_control import NodeControl
from .node_identity import default_base_url, default_node_name
from .options import APIOptions
from .redis_link import (HELD, ClusterUnavailable, RedisLink, events_key, heartbeat_key,
                         state_key)
from .result_removal import ClusterRemoval
from .remote_task import RemoteTask, TaskFollower
from .shared_queue import Entry, Orphan, SharedQueue
from .task import Task, TaskStatus, final_message, now_mills
from .task_events import EventPublisher, cluster_record, publish_end
from .task_queue import TaskConflict, TaskQueue
from .task_transfer import queue_entry, rebuild
from .webhooks import Webhooks

logger = logging.getLogger("fooocus_api")

TAKE_BLOCK_MILLS = 500
IDLE_CHECK_SECONDS = 1.0
HISTORY_WAIT_SECONDS = 10


class Cluster:
    def __init__(self, options: APIOptions, engine: Engine, tasks: TaskQueue,
                 history: HistoryStore, webhooks: Webhooks, sources: ImageSources,
                 files: FileRoots) -> None:
        self.node = options.node_name or default_node_name(engine.args)
        self.base_url = options.base_url or default_base_url(engine.args)
        self.runs_worker = options.runs_worker
        self._timeout = options.cluster_timeout
        self._engine = engine
        self._tasks = tasks
        self._history = history
        self._webhooks = webhooks
        self._sources = sources
        self._link = RedisLink(options.cluster_url or "")
        self._queue = SharedQueue(self._link, self.node)
        self._follower = TaskFollower(self._link)
        self._publisher = EventPublisher(self._link, self.node, self.base_url, self._published_end)
        self._control = NodeControl(self._link, self.node, tasks, self._publisher.record_of,
                                    files.delete_results)
        self._removal = ClusterRemoval(self._link, self.node, self.base_url,
                                       bool(options.database_url), files, self._control)
        self._lock = threading.Lock()
        self._entries: dict[str, str] = {}
        tasks.on_queued(self._watch)
        if options.cluster_role == "gateway" and not options.nowebui:
            logger.warning("cluster: --api-cluster-role gateway needs --nowebui; this node "
                           "runs tasks as a worker")

    def start(self) -> None:
        self._control.start()
        threading.Thread(target=self._heartbeat_loop, name="fooocus_api-heartbeat",
                         daemon=True).start()
        if self.runs_worker:
            threading.Thread(target=self._feed_loop, name="fooocus_api-feeder",
                             daemon=True).start()
        logger.info("cluster: node %s (%s) joined; results served from %s", self.node,
                    "worker" if self.runs_worker else "gateway", self.base_url)

    # -- accepting ---------------------------------------------------------------------------

    def submit(self, task: Task, request: dict[str, Any], retry: bool) -> None:
        record = cluster_record(task.record(), self.base_url, "")
        self._queue.put(record, queue_entry(task, request, retry))
        logger.info("task %s queued (cluster, accepted by %s)", task.task_id, self.node)

    def follow(self, task_id: str) -> RemoteTask | None:
        return self._follower.follow(task_id)

    # -- running -----------------------------------------------------------------------------

    def _feed_loop(self) -> None:
        while not self._tasks.attached:
            time.sleep(0.1)
        self._link.retry(self._queue.create_group)
        while True:
            try:
                self._feed_once()
            except Exception:
                logger.exception("cluster: taking a task from the queue failed")
                time.sleep(1)

    def _feed_once(self) -> None:
        if not self._tasks.wait_idle(IDLE_CHECK_SECONDS):
            return
        entry = self._queue.next_entry(TAKE_BLOCK_MILLS)
        if entry is None or not self._queue.take(entry):
            return
        try:
            task = rebuild(entry.fields, self._engine, self._sources)
        except Exception as error:
            logger.warning("task %s: this node cannot run it: %s", entry.task_id, error)
            self._end_unrun(entry, TaskStatus.FAILED, f"node {self.node} cannot run it: {error}")
            return
        task.base_url = self.base_url
        with self._lock:
            self._entries[task.task_id] = entry.entry_id
        self._tasks.submit(task)

    def _watch(self, task: Task) -> None:
        with self._lock:
            from_queue = task.task_id in self._entries
        self._publisher.watch(task, announced=from_queue)

    def _published_end(self, task: Task) -> None:
        with self._lock:
            entry_id = self._entries.pop(task.task_id, None)
        if entry_id is not None:
            self._queue.ack(entry_id)

    # -- dead nodes --------------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        self._link.retry(self._queue.create_group)
        self._link.retry(self._settle_leftovers)
        while True:
            try:
                self._link.retry(self._beat)
                for orphan in self._link.retry(lambda redis: self._queue.claim_orphans(
                        redis, int(self._timeout * 1000))):
                    self._settle_orphan(orphan)
                for record in self._link.retry(lambda redis: self._give_up_held(redis, False)):
                    self._conclude(record, TaskStatus.INTERRUPTED, _lost(record["node"]))
            except Exception:
                logger.exception("cluster: heartbeat failed")
            time.sleep(self._timeout / 3)

    def _beat(self, redis: Any) -> None:
        redis.set(heartbeat_key(self.node), self.base_url, ex=max(1, math.ceil(self._timeout)))
        if self.runs_worker:
            self._queue.keep_mine(redis)

    def _settle_leftovers(self, redis: Any) -> None:
        """Tasks a previous run of this node took, or had from its UI, and never finished."""
        for entry in self._queue.leftovers(redis):
            self._settle_orphan(Orphan(entry, self.node))
        for record in self._give_up_held(redis, at_start=True):
            self._conclude(record, TaskStatus.INTERRUPTED, _lost(self.node))

    def _give_up_held(self, redis: Any, at_start: bool) -> list[dict[str, Any]]:
        """UI tasks of nodes whose heartbeat expired (at start: of this node's last run)."""
        given_up = []
        for task_id in redis.smembers(HELD):
            state = redis.hgetall(state_key(task_id))
            node = state.get("node") or ""
            if not state or not node or state.get("entry") or not state.get("record"):
                continue
            dead = (node == self.node and self._tasks.get(task_id) is None if at_start
                    else node != self.node and not redis.exists(heartbeat_key(node)))
            if dead and self._queue.give_up(redis, task_id, node):
                given_up.append({**json.loads(state["record"]), "node": node})
        return given_up

    def _settle_orphan(self, orphan: Orphan) -> None:
        entry = orphan.entry
        status = self._link.retry(lambda redis: redis.hget(state_key(entry.task_id), "status"))
        if status == TaskStatus.PENDING.value:
            self._queue.requeue(entry, spend_retry=False)  # it died before taking it: never ran
            logger.warning("task %s: node %s stopped answering before it took the task; "
                           "queued again", entry.task_id, orphan.node)
            return
        if entry.fields.get("retry") == "1":
            self._queue.requeue(entry)
            logger.warning("task %s: node %s stopped answering; queued again (its one retry)",
                           entry.task_id, orphan.node)
            return
        logger.warning("task %s: node %s stopped answering; the task is interrupted",
                       entry.task_id, orphan.node)
        self._end_unrun(entry, TaskStatus.INTERRUPTED, _lost(orphan.node))

    def _end_unrun(self, entry: Entry, status: TaskStatus, error: str | None) -> None:
        """End a task that this node holds in the queue but will not run."""
        state = self._link.retry(lambda redis: redis.hgetall(state_key(entry.task_id)))
        record = json.loads(state["record"]) if state.get("record") else {"task_id": entry.task_id}
        self._conclude(record, status, error)
        self._queue.ack(entry.entry_id)

    def _conclude(self, record: dict[str, Any], status: TaskStatus,
                  error: str | None) -> dict[str, Any]:
        final = ended(record, status, error)
        final["id"] = self._stored(final)

        def send(redis: Any) -> None:
            with redis.pipeline(transaction=False) as pipe:
                publish_end(pipe, final)
                pipe.execute()

        self._link.retry(send)
        if final.get("webhook_url"):
            self._webhooks.send(final["task_id"], final["webhook_url"], final)
        logger.info("task %s %s (cluster)", final["task_id"], status.value)
        return final

    def _stored(self, final: dict[str, Any]) -> int:
        """Write the ended record to history first, so every node shows it with its id
        (a record that a cut-off run of a node had written keeps its id)."""
        row_ids: list[int] = []
        written = threading.Event()

        def on_row_id(row_id: int) -> None:
            row_ids.append(row_id)
            written.set()

        self._history.add(final, on_row_id)
        if not written.wait(HISTORY_WAIT_SECONDS):
            logger.warning("task %s: history did not store the record within %d s",
                           final["task_id"], HISTORY_WAIT_SECONDS)
        return row_ids[0] if row_ids else -1

    # -- acting on tasks anywhere ------------------------------------------------------------

    def cancel(self, task_id: str) -> dict[str, Any]:
        state = self._state(task_id)
        if state is None:
            return self._publisher.record_of(self._tasks.cancel(task_id))

        status, record = state["status"], json.loads(state["record"])
        if status == TaskStatus.PENDING.value and state.get("entry"):
            outcome = self._queue.cancel(task_id, ended(record, TaskStatus.CANCELED, None))
            if outcome == TaskStatus.CANCELED.value:
                return self._conclude(record, TaskStatus.CANCELED, None)
            raise TaskConflict(f"task {task_id} has just started; stop it instead")
        if status == TaskStatus.PENDING.value and state.get("node"):
            return self._on_node(state["node"], "cancel", task_id)
        raise TaskConflict(f"task {task_id} is {status}; only a pending task can be canceled "
                           "(use /v1/engine/control to stop a running one)")

    def control(self, action: str, task_id: str | None) -> dict[str, Any]:
        if task_id is None:
            return self._publisher.record_of(self._tasks.control(action, None))
        state = self._state(task_id)
        if state is None:
            return self._publisher.record_of(self._tasks.control(action, task_id))
        if state["status"] != TaskStatus.RUNNING.value:
            raise TaskConflict(f"task {task_id} is {state['status']}, not running")
        return self._on_node(state["node"], action, task_id)

    def _on_node(self, node: str, action: str, task_id: str) -> dict[str, Any]:
        if node == self.node:
            task = (self._tasks.cancel(task_id) if action == "cancel"
                    else self._tasks.control(action, task_id))
            return self._publisher.record_of(task)
        return self._control.ask(node, action, task_id)

    def holds(self, task_id: str) -> bool:
        """Whether the task that just ended here is still this node's run of it: False
        when, while this node was cut off, the cluster ended it or queued it again
        (even if this node has taken it again since). True when Redis cannot tell."""
        with self._lock:
            entry_id = self._entries.get(task_id)
        try:
            node, status, entry = self._link.now(
                lambda redis: redis.hmget(state_key(task_id), "node", "status", "entry"))
        except ClusterUnavailable:
            return True
        if status is None:
            return True  # unknown: Redis lost its data
        live = status in (TaskStatus.PENDING.value, TaskStatus.RUNNING.value)
        return live and node == self.node and (entry_id is None or entry == entry_id)

    def check_reachable(self) -> None:
        """Raises ClusterUnavailable (a 503) when Redis does not answer."""
        self._link.now(lambda redis: redis.ping())

    def delete_results(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        return self._removal.remove(records)

    def forget(self, task_ids: list[str]) -> None:
        """Drop ended tasks' live state and events (their history records were deleted)."""
        def delete(redis: Any) -> None:
            keys = [key for task_id in task_ids for key in (state_key(task_id),
                                                             events_key(task_id))]
            if keys:
                redis.delete(*keys)

        try:
            self._link.now(delete)
        except ClusterUnavailable as error:
            logger.warning("cluster: %d deleted task(s) stay readable through Redis until "
                           "their state expires (at most an hour): %s", len(task_ids), error)

    # -- reading -----------------------------------------------------------------------------

    def live_record(self, task_id: str) -> dict[str, Any] | None:
        """The task as every node shows it; None when the cluster does not know it."""
        state = self._state(task_id)
        return self._shown(task_id, state) if state is not None else None

    def _state(self, task_id: str) -> dict[str, str] | None:
        """The task's state hash; None when missing or partial (Redis lost its data)."""
        state = self._link.now(lambda redis: redis.hgetall(state_key(task_id)))
        return state if state.get("record") and state.get("status") else None

    def current(self) -> list[dict[str, Any]]:
        """The tasks running anywhere in the cluster, the longest running first."""
        ids = self._link.now(lambda redis: sorted(redis.smembers(HELD)))
        records = [self.live_record(task_id) for task_id in ids]
        running = [record for record in records
                   if record and record["task_status"] == TaskStatus.RUNNING.value]
        return sorted(running, key=lambda record: record.get("start_mills") or 0)

    def pending(self) -> list[dict[str, Any]]:
        """Tasks no node has taken, in the order they will be taken, then this node's UI tasks."""
        ids = self._link.now(self._queue.waiting)
        local = [task.task_id for task in self._tasks.pending() if task.task_id not in ids]
        records = [self.live_record(task_id) for task_id in ids + local]
        return [record for record in records if record]

    def _shown(self, task_id: str, state: dict[str, str]) -> dict[str, Any]:
        record = json.loads(state["record"])
        if TaskStatus(state["status"]).is_final:
            return {**record, "preview": None, "position": None}
        # Taken but not started yet: the record is still the one queued, without a node.
        record.update(task_status=state["status"], progress=int(state.get("progress") or 0),
                      message=state.get("message") or record.get("message"),
                      node=state.get("node") or record.get("node", ""))
        record["preview"] = state.get("preview") or None
        record["position"] = self._position(task_id, state)
        return record

    def _position(self, task_id: str, state: dict[str, str]) -> int | None:
        if state["status"] != TaskStatus.PENDING.value:
            return None
        if state.get("entry"):
            waiting = self._link.now(self._queue.waiting)
            return waiting.index(task_id) + 1 if task_id in waiting else None
        local = self._tasks.get(task_id)
        return self._tasks.position(local) if local is not None else None


def _lost(node: str) -> str:
    return f"node {node} stopped answering"


def ended(record: dict[str, Any], status: TaskStatus, error: str | None) -> dict[str, Any]:
    return {**record, "task_status": status.value, "error": error, "finish_mills": now_mills(),
            "message": final_message(status, error)}
