"""Removing the result images of deleted history records, on the machine that holds each.

A record's result URLs say where its images are: `/outputs/...` on the machine that
wrote the record, or, in a cluster, the base URL of the node that made them. A
node removes its own files; in a cluster it asks the holding node through that
node's control stream. Images it cannot reach are reported, never dropped silently:
each removal answers `{"removed": [urls], "left": [{node, base_url, files, reason}]}`.
"""
from __future__ import annotations

import logging
from typing import Any

from .files import OUTPUTS_PREFIX, FileRoots
from .node_control import NodeControl, NodeUnresponsive
from .redis_link import ClusterUnavailable, RedisLink, heartbeat_key

logger = logging.getLogger("fooocus_api")

Record = dict[str, Any]
Removal = dict[str, Any]


def remove_local(records: list[Record], files: FileRoots, node: str,
                 shared_history: bool) -> Removal:
    """Outside a cluster: this machine's images go; with a history shared with other
    nodes, theirs are listed as left (this node cannot reach them)."""
    own: list[Record] = []
    others: list[Record] = []
    for record in records:
        (own if not shared_history or record["node"] == node else others).append(record)
    return {"removed": files.delete_results([url for record in own for url in record["result"]]),
            "left": [_made_elsewhere(record) for record in others if record["result"]]}


def _made_elsewhere(record: Record) -> dict[str, Any]:
    return {"node": record["node"], "base_url": None, "files": record["result"],
            "reason": f"made by node {record['node'] or '(unnamed)'}; without --api-cluster a "
                      "node removes only its own images"}


class ClusterRemoval:
    def __init__(self, link: RedisLink, node: str, base_url: str, shared_history: bool,
                 files: FileRoots, control: NodeControl) -> None:
        self._link = link
        self._node = node
        self._base_url = base_url
        self._shared_history = shared_history
        self._files = files
        self._control = control

    def remove(self, records: list[Record]) -> Removal:
        """Each file on the node whose base URL its URL carries, or for a URL from before
        the cluster (`/outputs/...`) on the node that wrote the record. Files of a node
        that is not running, or does not answer, are listed under `left` with the reason."""
        try:
            nodes = self._link.now(_nodes_by_base_url)
        except ClusterUnavailable:
            nodes = {}
        removed: list[str] = []
        left: list[dict[str, Any]] = []
        for (node, base_url), urls in self._by_holder(records, nodes).items():
            try:
                removed += self._remove_on(node, base_url, urls)
            except (NodeUnresponsive, ClusterUnavailable) as error:
                logger.warning("cluster: %d result file(s) left on %s: %s", len(urls),
                               node or base_url, error)
                left.append({"node": node, "base_url": base_url or None, "files": urls,
                             "reason": str(error)})
        return {"removed": removed, "left": left}

    def _by_holder(self, records: list[Record],
                   nodes: dict[str, str]) -> dict[tuple[str | None, str], list[str]]:
        holders: dict[tuple[str | None, str], list[str]] = {}
        for record in records:
            for url in record["result"]:
                base_url = url.partition(OUTPUTS_PREFIX)[0]
                if base_url:
                    node = self._node if base_url == self._base_url else nodes.get(base_url)
                else:  # kept from before the cluster: on the machine that wrote the record
                    node = record["node"] if self._shared_history else self._node
                holders.setdefault((node, base_url), []).append(url)
        return holders

    def _remove_on(self, node: str | None, base_url: str, urls: list[str]) -> list[str]:
        if node == self._node:
            return self._files.delete_results(urls)
        if not node:
            raise NodeUnresponsive(f"no running node serves {base_url or 'them'}; the files "
                                   "stay where they are")
        if not self._link.now(lambda redis: redis.exists(heartbeat_key(node))):
            raise NodeUnresponsive(f"node {node} is not running; its files stay there")
        return self._control.ask_to_delete(node, urls)


def _nodes_by_base_url(redis: Any) -> dict[str, str]:
    """Running nodes by the base URL their heartbeat announces."""
    keys = list(redis.scan_iter(match=heartbeat_key("*"), count=1000))
    bases = redis.mget(keys) if keys else []
    return {base: key.removeprefix(heartbeat_key("")) for key, base in zip(keys, bases) if base}
