"""Who a node is in a cluster: its name and the address its results are served from.

A name is the node's identity in Redis (heartbeat, consumer, control stream) and in
a shared history, so two running nodes must never share one.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from .redis_link import ClusterUnavailable, RedisLink, heartbeat_key

logger = logging.getLogger("fooocus_api")


class NameTaken(RuntimeError):
    """Another running node has this node's name."""


def claim_name(link: RedisLink, node: str, timeout: float) -> None:
    """A heartbeat under this name at start is the last run's, which expires within the
    timeout, or another running node's: then raises NameTaken."""
    def beating() -> bool:
        return bool(link.now(lambda redis: redis.exists(heartbeat_key(node))))

    try:
        if not beating():
            return
        logger.warning("cluster: node name %s has a heartbeat in Redis; waiting up to %g s "
                       "for it to expire (a previous run of this node)", node, timeout + 1)
        deadline = time.monotonic() + timeout + 1
        while time.monotonic() < deadline:
            time.sleep(0.25)
            if not beating():
                return
    except ClusterUnavailable:
        return  # nothing to compare with; the heartbeat loop reconnects
    raise NameTaken(f"another running node is named {node} (its heartbeat in Redis is kept "
                    "alive); give every node its own --api-node-name")


def default_node_name(args: Any) -> str:
    return f"{_host(args)}:{_port(args)}"


def default_base_url(args: Any) -> str:
    host = _host(args)
    return f"http://{f'[{host}]' if ':' in host else host}:{_port(args)}"  # IPv6 in brackets


def _host(args: Any) -> str:
    listen = getattr(args, "listen", None) or "127.0.0.1"
    return socket.gethostname() if listen in ("0.0.0.0", "::") else listen


def _port(args: Any) -> int:
    return int(getattr(args, "port", None) or os.environ.get("GRADIO_SERVER_PORT", 7865))
