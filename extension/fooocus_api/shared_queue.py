"""The cluster's one queue: a Redis stream read by one consumer group of worker nodes.

Every entry is one task (see task_transfer.py). A worker node reads an entry
only when its own worker is idle, so nothing waits on a busy node. Each task
also has a state hash; the small Lua scripts below check and change that state
in one step, so a task is taken, canceled or re-queued exactly once.

A node that dies leaves its entry pending in the group. The owner of a live
entry re-claims it on every heartbeat, which keeps its idle time low; an entry
idle longer than the cluster timeout whose owner's heartbeat key has expired is
claimed by one other node (XCLAIM with a minimum idle time succeeds once), which
then ends the task or queues it again.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .redis_link import QUEUE, HELD, WORKERS_GROUP, RedisLink, heartbeat_key, state_key

QUEUE_MAXLEN = 100_000

PUT = """
redis.call('HSET', KEYS[1], 'status', 'pending', 'node', '', 'record', ARGV[1],
           'progress', '0', 'message', ARGV[2], 'preview', '')
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 4))
redis.call('HSET', KEYS[1], 'entry', id)
return id
"""

# KEYS: state, queue, running   ARGV: entry id, node, group, task id
TAKE = """
if redis.call('HGET', KEYS[1], 'status') ~= 'pending'
   or redis.call('HGET', KEYS[1], 'entry') ~= ARGV[1] then
  redis.call('XACK', KEYS[2], ARGV[3], ARGV[1])
  redis.call('XDEL', KEYS[2], ARGV[1])
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'running', 'node', ARGV[2])
redis.call('SADD', KEYS[3], ARGV[4])
return 1
"""

# KEYS: state, queue   ARGV: final record
CANCEL = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
local entry = redis.call('HGET', KEYS[1], 'entry')
if status ~= 'pending' or not entry or entry == '' then return status end
redis.call('XDEL', KEYS[2], entry)
redis.call('HSET', KEYS[1], 'status', 'canceled', 'record', ARGV[1], 'entry', '')
return 'canceled'
"""

# KEYS: state, queue, running   ARGV: old entry id, group, task id, fields...
REQUEUE = """
redis.call('XACK', KEYS[2], ARGV[2], ARGV[1])
redis.call('XDEL', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[3])
local id = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 4))
redis.call('HSET', KEYS[1], 'status', 'pending', 'node', '', 'entry', id, 'progress', '0',
           'preview', '')
return id
"""


# A task a dead node held outside the queue (from its UI); ended once, by one node.
# KEYS: state   ARGV: the dead node's name
GIVE_UP = """
local status = redis.call('HGET', KEYS[1], 'status')
local entry = redis.call('HGET', KEYS[1], 'entry')
if (status ~= 'pending' and status ~= 'running') or (entry and entry ~= '')
   or redis.call('HGET', KEYS[1], 'node') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'interrupted')
return 1
"""


@dataclass(frozen=True)
class Entry:
    entry_id: str
    fields: dict[str, str]

    @property
    def task_id(self) -> str:
        return self.fields["task_id"]


@dataclass(frozen=True)
class Orphan:
    """An entry claimed from a node whose heartbeat stopped."""

    entry: Entry
    node: str


class SharedQueue:
    def __init__(self, link: RedisLink, node: str) -> None:
        self._link = link
        self._node = node
        self._put = link.script(PUT)
        self._take = link.script(TAKE)
        self._cancel = link.script(CANCEL)
        self._requeue = link.script(REQUEUE)
        self._give_up = link.script(GIVE_UP)

    def create_group(self, redis: Any) -> None:
        try:
            redis.xgroup_create(QUEUE, WORKERS_GROUP, id="0", mkstream=True)
        except Exception as error:  # redis.ResponseError: the group exists already
            if "BUSYGROUP" not in str(error):
                raise

    # -- accepting -----------------------------------------------------------------------------

    def put(self, record: dict[str, Any], entry: dict[str, str]) -> str:
        flat = [item for pair in entry.items() for item in pair]
        return self._link.now(lambda redis: self._put(
            keys=[state_key(record["task_id"]), QUEUE],
            args=[json.dumps(record), record["message"], QUEUE_MAXLEN, *flat]))

    def cancel(self, task_id: str, final_record: dict[str, Any]) -> str:
        """'canceled' when this call removed it; otherwise the status that prevented it."""
        return self._link.now(lambda redis: self._cancel(
            keys=[state_key(task_id), QUEUE], args=[json.dumps(final_record)]))

    # -- taking --------------------------------------------------------------------------------

    def next_entry(self, block_mills: int) -> Entry | None:
        def read(redis: Any) -> Any:
            try:
                return redis.xreadgroup(WORKERS_GROUP, self._node, {QUEUE: ">"}, count=1,
                                        block=block_mills)
            except Exception as error:  # redis.ResponseError
                if not _data_lost(error):
                    raise
                # Redis came back without its data (no persistence), or lost it while this
                # read waited (FLUSHALL): start the queue anew.
                self.create_group(redis)
                return None

        replies = self._link.retry(read)
        for _, entries in replies or []:
            for entry_id, fields in entries:
                if fields:
                    return Entry(entry_id, fields)
                self.ack(entry_id)  # deleted (canceled) after it was delivered
        return None

    def take(self, entry: Entry) -> bool:
        """Mark the task running on this node; False when it was canceled meanwhile."""
        return bool(self._link.retry(lambda redis: self._take(
            keys=[state_key(entry.task_id), QUEUE, HELD],
            args=[entry.entry_id, self._node, WORKERS_GROUP, entry.task_id])))

    def ack(self, entry_id: str) -> None:
        def remove(redis: Any) -> None:
            with redis.pipeline() as pipe:
                pipe.xack(QUEUE, WORKERS_GROUP, entry_id)
                pipe.xdel(QUEUE, entry_id)
                pipe.execute(raise_on_error=False)  # the group may be gone with a lost Redis

        self._link.retry(remove)

    # -- dead nodes ----------------------------------------------------------------------------

    def keep_mine(self, redis: Any) -> None:
        """Reset the idle time of this node's entries: they are not orphans."""
        ids = [item["message_id"] for item in self._pending(redis, consumername=self._node)]
        if ids:
            redis.xclaim(QUEUE, WORKERS_GROUP, self._node, 0, ids, justid=True)

    def leftovers(self, redis: Any) -> list[Entry]:
        """Entries this node's name holds from before it (re)started."""
        entries = []
        for item in self._pending(redis, consumername=self._node):
            for entry_id, fields in redis.xrange(QUEUE, min=item["message_id"],
                                                 max=item["message_id"]):
                entries.append(Entry(entry_id, fields))
            if not entries or entries[-1].entry_id != item["message_id"]:
                self.ack(item["message_id"])
        return entries

    def claim_orphans(self, redis: Any, idle_mills: int) -> list[Orphan]:
        orphans = []
        for item in self._pending(redis, idle=idle_mills):
            node = item["consumer"]
            if node == self._node or redis.exists(heartbeat_key(node)):
                continue
            claimed = redis.xclaim(QUEUE, WORKERS_GROUP, self._node, idle_mills,
                                   [item["message_id"]])
            for entry_id, fields in claimed:
                if fields:
                    orphans.append(Orphan(Entry(entry_id, fields), node))
                else:
                    self.ack(entry_id)
        return orphans

    def _pending(self, redis: Any, **which: Any) -> list[dict[str, Any]]:
        """Entries taken and not yet acknowledged; none when Redis came back without its
        data (no persistence), in which case the queue starts anew."""
        try:
            return redis.xpending_range(QUEUE, WORKERS_GROUP, min="-", max="+", count=100,
                                        **which)
        except Exception as error:  # redis.ResponseError
            if not _data_lost(error):
                raise
            self.create_group(redis)
            return []

    def give_up(self, redis: Any, task_id: str, node: str) -> bool:
        """True when this call ended a UI task that `node` held (so this node reports it)."""
        return bool(self._give_up(keys=[state_key(task_id)], args=[node], client=redis))

    def requeue(self, entry: Entry, spend_retry: bool = True) -> str:
        """Queue the task again, at the end; with `spend_retry`, it may not be retried again."""
        fields = {**entry.fields, "retried_after": entry.entry_id}
        if spend_retry:
            fields["retry"] = "0"
        flat = [item for pair in fields.items() for item in pair]
        return self._link.retry(lambda redis: self._requeue(
            keys=[state_key(entry.task_id), QUEUE, HELD],
            args=[entry.entry_id, WORKERS_GROUP, entry.task_id, *flat]))

    # -- reading -------------------------------------------------------------------------------

    def waiting(self, redis: Any) -> list[str]:
        """Ids of the tasks no node has taken yet, first to be taken first."""
        if not redis.exists(QUEUE):
            return []
        last = self._last_delivered(redis)
        entries = redis.xrange(QUEUE, min=f"({last}" if last != "0-0" else "-", max="+")
        return [fields["task_id"] for _, fields in entries if fields]

    def _last_delivered(self, redis: Any) -> str:
        for group in redis.xinfo_groups(QUEUE):
            if group["name"] == WORKERS_GROUP:
                return group["last-delivered-id"]
        return "0-0"


def _data_lost(error: Exception) -> bool:
    """Redis's answer when the queue's stream or group is gone: NOGROUP, or UNBLOCKED
    for a read that was waiting when the stream was deleted."""
    return str(error).startswith(("NOGROUP", "UNBLOCKED"))
