"""The plugin's command-line flags, added to Fooocus's own argument parser.

Fooocus parses its command line once, at import of `args_manager`, and rejects
unknown flags. The plugin adds its flags to Fooocus's parser before that parse,
so `--help` lists them and Fooocus's `args` carries them.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

API_FLAGS = ("--api", "--nowebui")
API_FLAG_PREFIX = "--api-"


@dataclass(frozen=True)
class APIOptions:
    enabled: bool = False
    key: str | None = None
    port: int | None = None
    nowebui: bool = False
    base_url: str | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> APIOptions:
        nowebui = bool(getattr(args, "nowebui", False))
        return cls(
            enabled=bool(getattr(args, "api", False)) or nowebui,
            key=getattr(args, "api_key", None) or None,
            port=getattr(args, "api_port", None),
            nowebui=nowebui,
            base_url=_strip_slash(getattr(args, "api_base_url", None)),
        )


def wants_api(argv: list[str]) -> bool:
    """True when the command line names any of the plugin's flags."""
    return any(arg in API_FLAGS or arg.startswith(API_FLAG_PREFIX) for arg in argv)


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


def _port(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1..65535, got {port}")
    return port


def _strip_slash(url: str | None) -> str | None:
    return url.rstrip("/") if url else None
