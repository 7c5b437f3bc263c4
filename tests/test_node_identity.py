"""A node's default name and the address its results are served from."""
from __future__ import annotations

import socket
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "extension"))
from fooocus_api.node_identity import default_base_url, default_node_name  # noqa: E402


@pytest.mark.parametrize("listen, expected", [
    ("127.0.0.1", "http://127.0.0.1:7870"),
    ("::1", "http://[::1]:7870"),
    ("fe80::1", "http://[fe80::1]:7870"),
    ("0.0.0.0", f"http://{socket.gethostname()}:7870"),
    ("::", f"http://{socket.gethostname()}:7870"),
])
def test_the_default_base_url_is_a_valid_url_for_every_listen_address(listen, expected):
    assert default_base_url(SimpleNamespace(listen=listen, port=7870)) == expected


def test_the_default_node_name_is_the_listen_address_and_port():
    assert default_node_name(SimpleNamespace(listen="10.0.0.5", port=7870)) == "10.0.0.5:7870"
