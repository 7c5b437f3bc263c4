"""A task record as clients receive it: URL paths made into full URLs.

Records keep `/outputs/...` and `/inputs/...` paths, never a host, so a record
read later through another address (or `--listen 0.0.0.0`) links correctly.
"""
from __future__ import annotations

from typing import Any

from .files import INPUTS_PREFIX, OUTPUTS_PREFIX


def public_record(record: dict[str, Any], base_url: str) -> dict[str, Any]:
    shown = dict(record)
    shown["result"] = [absolute_url(path, base_url) for path in record.get("result") or []]
    shown["req_params"] = _params_with_urls(record.get("req_params") or {}, base_url)
    return shown


def absolute_url(path: str, base_url: str) -> str:
    if path.startswith((OUTPUTS_PREFIX, INPUTS_PREFIX)):
        return base_url + path
    return path


def _params_with_urls(params: dict[str, Any], base_url: str) -> dict[str, Any]:
    shown = {}
    for name, value in params.items():
        if isinstance(value, str):
            shown[name] = absolute_url(value, base_url)
        elif isinstance(value, list):
            shown[name] = [_params_with_urls(item, base_url) if isinstance(item, dict) else item
                           for item in value]
        else:
            shown[name] = value
    return shown
