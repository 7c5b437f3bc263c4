"""The plugin's command-line flags, added to Fooocus's own argument parser.

Fooocus parses its command line once, at import of `args_manager`, and rejects
unknown flags. The plugin adds its flags to Fooocus's parser before that parse,
so `--help` lists them and Fooocus's `args` carries them.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

API_FLAGS = ("--api", "--nowebui")
API_FLAG_PREFIXES = ("--api-", "--webhook-")


MEBIBYTE = 1024 * 1024


@dataclass(frozen=True)
class APIOptions:
    enabled: bool = False
    key: str | None = None
    port: int | None = None
    nowebui: bool = False
    base_url: str | None = None
    public_files: bool = False
    allow_hosts: frozenset[str] = frozenset()
    max_body_bytes: int = 64 * MEBIBYTE
    max_pixels: int = 40_000_000
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_tries: int = 4
    webhook_backoff: float = 2.0
    database_url: str | None = None
    node_name: str = ""
    cluster_url: str | None = None
    cluster_role: str = "worker"
    cluster_timeout: float = 30.0

    @property
    def runs_worker(self) -> bool:
        """False for a cluster gateway: it accepts, routes and streams, and runs nothing."""
        return not (self.cluster_url and self.nowebui and self.cluster_role == "gateway")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> APIOptions:
        from .outbound import parse_allow_hosts

        nowebui = bool(getattr(args, "nowebui", False))
        defaults = cls()
        return cls(
            enabled=bool(getattr(args, "api", False)) or nowebui,
            key=getattr(args, "api_key", None) or None,
            port=getattr(args, "api_port", None),
            nowebui=nowebui,
            base_url=_strip_slash(getattr(args, "api_base_url", None)),
            public_files=bool(getattr(args, "api_public_files", False)),
            allow_hosts=parse_allow_hosts(getattr(args, "api_allow_hosts", None)),
            max_body_bytes=int(getattr(args, "api_max_body_mb", None) or
                               defaults.max_body_bytes / MEBIBYTE) * MEBIBYTE,
            max_pixels=getattr(args, "api_max_pixels", None) or defaults.max_pixels,
            webhook_url=getattr(args, "webhook_url", None) or None,
            webhook_secret=getattr(args, "webhook_secret", None) or None,
            webhook_tries=getattr(args, "webhook_tries", None) or defaults.webhook_tries,
            webhook_backoff=getattr(args, "webhook_backoff", None) or defaults.webhook_backoff,
            database_url=getattr(args, "api_database_url", None) or None,
            node_name=getattr(args, "api_node_name", None) or "",
            cluster_url=getattr(args, "api_cluster", None) or None,
            cluster_role=getattr(args, "api_cluster_role", None) or defaults.cluster_role,
            cluster_timeout=getattr(args, "api_cluster_timeout", None) or defaults.cluster_timeout,
        )


def wants_api(argv: list[str]) -> bool:
    """True when the command line names any of the plugin's flags."""
    return any(arg in API_FLAGS or arg.startswith(API_FLAG_PREFIXES) for arg in argv)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("REST API (fooocus_api plugin)")
    group.add_argument("--api", action="store_true",
                       help="Serve the REST API on the same host and port as the Gradio UI.")
    group.add_argument("--api-key", type=str, default=None, metavar="KEY",
                       help="Require this key in the X-API-KEY header of every API request.")
    group.add_argument("--api-port", type=_port, default=None, metavar="PORT",
                       help="Also serve the API alone on this port (e.g. 7866, where "
                            "FooocusAPI clients look), on the same listen address.")
    group.add_argument("--nowebui", action="store_true",
                       help="Serve the API without the Gradio UI (implies --api).")
    group.add_argument("--api-base-url", type=str, default=None, metavar="URL",
                       help="Base of the image URLs in replies, e.g. https://example.org/fooocus. "
                            "Default: taken from each request.")
    group.add_argument("--api-public-files", action="store_true",
                       help="With --api-key, still serve /outputs and /inputs images without it.")
    group.add_argument("--api-allow-hosts", type=str, default=None, metavar="HOST[,HOST...]",
                       help="Hosts or addresses on the local or private network that input-image "
                            "URLs and webhooks may reach (refused by default).")
    group.add_argument("--api-max-body-mb", type=_positive_int, default=None, metavar="MB",
                       help="Largest request body, in MiB (default 64); larger ones get 413.")
    group.add_argument("--api-max-pixels", type=_positive_int, default=None, metavar="N",
                       help="Largest input image, in pixels (default 40000000); larger ones get 413.")
    group.add_argument("--api-database-url", type=str, default=None, metavar="URL",
                       help="Keep the task history in PostgreSQL, e.g. "
                            "postgresql://USER@127.0.0.1:5432/DATABASE, so that several nodes "
                            "share it (needs requirements-cluster.txt). Default: SQLite in "
                            "outputs/db.sqlite3.")
    group.add_argument("--api-node-name", type=str, default=None, metavar="NAME",
                       help="This node's name in a shared history and in a cluster (default: "
                            "'', and with --api-cluster the HOST:PORT it listens on); at start, "
                            "only this node's unfinished tasks are marked interrupted.")
    group.add_argument("--webhook-url", type=str, default=None, metavar="URL",
                       help="Webhook for requests that name none: the final record is POSTed "
                            "there when a task ends.")
    group.add_argument("--webhook-secret", type=str, default=None, metavar="SECRET",
                       help="Sign webhook deliveries with HMAC-SHA256 (header "
                            "X-Fooocus-Signature; see README).")
    group.add_argument("--webhook-tries", type=_positive_int, default=None, metavar="N",
                       help="Attempts per webhook delivery (default 4).")
    group.add_argument("--webhook-backoff", type=_positive_float, default=None, metavar="SECONDS",
                       help="Wait before the first retry, doubled for each next one (default 2).")
    group.add_argument("--api-cluster", type=_redis_url, default=None,
                       metavar="redis://HOST:PORT/DB",
                       help="Join the cluster whose queue and live state are in this Redis "
                            "database (needs requirements-cluster.txt; see README).")
    group.add_argument("--api-cluster-role", choices=("worker", "gateway"), default=None,
                       help="'gateway' (with --nowebui) runs no generations: it only accepts, "
                            "routes and streams. Default: worker.")
    group.add_argument("--api-cluster-timeout", type=_positive_float, default=None,
                       metavar="SECONDS",
                       help="A node silent this long is dead: its task ends 'interrupted' "
                            "(default 30).")


def _port(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1..65535, got {port}")
    return port


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {value}")
    return value


def _redis_url(text: str) -> str:
    if not text.startswith(("redis://", "rediss://", "unix://")):
        raise argparse.ArgumentTypeError(f"must be a redis://HOST:PORT/DB URL, got {text!r}")
    return text


def _strip_slash(url: str | None) -> str | None:
    return url.rstrip("/") if url else None
