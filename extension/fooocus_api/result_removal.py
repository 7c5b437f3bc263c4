"""Removing the result images of deleted history records, on the machine that holds each.

A record's result URLs say where its images are: `/outputs/...` on the machine that
wrote the record, or, in a cluster, the base URL of the node that made them. A
node removes its own files; in a cluster it asks the holding node through that
node's control stream. Images it cannot reach, or that are not on the holder's
disk, are reported, never dropped silently: each removal answers
`{"removed": [urls], "left": [{node, base_url, files, reason}]}`.
"""
from __future__ import annotations

import logging
import time
from functools import partial
from typing import Any, Callable

from .files import OUTPUTS_PREFIX, FileRoots
from .node_control import NodeControl, NodeUnresponsive
from .redis_link import ClusterUnavailable, RedisLink, heartbeat_key

logger = logging.getLogger("fooocus_api")

Record = dict[str, Any]
Removal = dict[str, Any]
Holder = tuple[str | None, str]  # (node name, base URL the files' URLs carry)
REMOVAL_BATCH = 500  # files a node is asked to remove at once (well within its 5 s answer)
SILENT_SECONDS = 60  # a node that did not answer is not asked again meanwhile


def remove_local(records: list[Record], files: FileRoots, node: str,
                 shared_history: bool) -> Removal:
    """Outside a cluster: this machine's images go; with a history shared with other
    nodes, theirs are listed as left, one entry per node (this node cannot reach them)."""
    removal = _Removal()
    by_node: dict[str, list[str]] = {}
    for record in records:
        holder = record["node"] if shared_history else node
        by_node.setdefault(holder, []).extend(record["result"])
    for holder, urls in by_node.items():
        if holder == node:
            removal.run((node, ""), urls, files.delete_results)
        elif urls:
            removal.leave((holder, ""), urls,
                          f"made by node {holder or '(unnamed)'}; without --api-cluster a "
                          "node removes only its own images")
    return removal.answer()


class _Removal:
    """The files removed so far and those left, with why."""

    def __init__(self) -> None:
        self.removed: list[str] = []
        self.left: list[dict[str, Any]] = []

    def run(self, holder: Holder, urls: list[str],
            delete: Callable[[list[str]], list[str]]) -> None:
        """`delete` removes what it finds; what it did not find is left, with the reason."""
        done = delete(urls)
        self.removed += done
        found = set(done)
        missing = [url for url in urls if url not in found]
        if missing:
            owner = f"node {holder[0]}" if holder[0] else "this node"
            self.leave(holder, missing,
                       f"not on {owner}'s disk (already removed, or never saved there)")

    def leave(self, holder: Holder, urls: list[str], reason: str) -> None:
        node, base_url = holder
        logger.warning("%d result file(s) not removed (%s): %s", len(urls),
                       node or base_url or "this node", reason)
        self.left.append({"node": node, "base_url": base_url or None, "files": urls,
                          "reason": reason})

    def answer(self) -> Removal:
        return {"removed": self.removed, "left": self.left}


class _NotRunning(RuntimeError):
    """No running node holds the files: nothing was asked."""


class ClusterRemoval:
    def __init__(self, link: RedisLink, node: str, base_url: str, shared_history: bool,
                 files: FileRoots, control: NodeControl) -> None:
        self._link = link
        self._node = node
        self._base_url = base_url
        self._shared_history = shared_history
        self._files = files
        self._control = control
        self._silent: dict[str, float] = {}  # node -> until when it is not asked again

    def remove(self, records: list[Record]) -> Removal:
        """Each file on the node that holds it (see `_holder`). Files of a node that is not
        running, does not answer or does not have them are listed under `left` with
        the reason."""
        try:
            nodes = self._link.now(_nodes_by_base_url)
        except ClusterUnavailable:
            nodes = {}
        removal = _Removal()
        for holder, urls in self._by_holder(records, nodes).items():
            self._remove_in_batches(holder, urls, removal)
        return removal.answer()

    def _remove_in_batches(self, holder: Holder, urls: list[str], removal: _Removal) -> None:
        """A batch at a time, so that each answer comes within the wait; after a node
        failed to answer, its remaining files are left without asking again."""
        for start in range(0, len(urls), REMOVAL_BATCH):
            batch = urls[start:start + REMOVAL_BATCH]
            try:
                removal.run(holder, batch, partial(self._remove_on, holder[0]))
            except NodeUnresponsive as error:
                removal.leave(holder, urls[start:], f"{error} (a batch of {len(batch)} was "
                                                    "asked for and may be partly removed)")
                self._silent[holder[0] or ""] = time.monotonic() + SILENT_SECONDS
                return
            except (_NotRunning, ClusterUnavailable) as error:
                removal.leave(holder, urls[start:], str(error))
                return

    def _by_holder(self, records: list[Record], nodes: dict[str, str]) -> dict[Holder, list[str]]:
        holders: dict[Holder, list[str]] = {}
        running = {*nodes.values(), self._node}
        for record in records:
            writer = record["node"] if self._shared_history else self._node
            for url in record["result"]:
                base_url = url.partition(OUTPUTS_PREFIX)[0]
                holders.setdefault((self._holder(writer, base_url, nodes, running), base_url),
                                   []).append(url)
        return holders

    def _holder(self, writer: str, base_url: str, nodes: dict[str, str],
                running: set[str]) -> str:
        """With a shared history, the running node that wrote the record (an address can
        pass to another node); else the node that announces the URL's address; else
        the writer, which then says whether it is running."""
        if self._shared_history and writer in running:
            return writer
        if base_url and base_url == self._base_url:
            return self._node
        return nodes.get(base_url, writer)

    def _remove_on(self, node: str | None, urls: list[str]) -> list[str]:
        if node == self._node:
            return self._files.delete_results(urls)
        if not node:
            raise _NotRunning("no running node serves them; the files stay where they are")
        if not self._link.now(lambda redis: redis.exists(heartbeat_key(node))):
            raise _NotRunning(f"node {node} is not running; its files stay there")
        if self._silent.get(node, 0.0) > time.monotonic():
            raise _NotRunning(f"node {node} did not answer a request to remove files a moment "
                              "ago, so it was not asked again; its files stay there")
        return self._control.ask_to_delete(node, urls)


def _nodes_by_base_url(redis: Any) -> dict[str, str]:
    """Running nodes by the base URL their heartbeat announces."""
    keys = list(redis.scan_iter(match=heartbeat_key("*"), count=1000))
    bases = redis.mget(keys) if keys else []
    return {base: key.removeprefix(heartbeat_key("")) for key, base in zip(keys, bases) if base}
