"""The plugin's messages on Fooocus's console, marked `[API]`."""
from __future__ import annotations

import logging
import sys


def configure_logging() -> None:
    """Give the plugin's logger a console handler; Fooocus configures none."""
    plugin_logger = logging.getLogger("fooocus_api")
    if plugin_logger.handlers:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[API] %(message)s"))
    plugin_logger.addHandler(handler)
    plugin_logger.setLevel(logging.INFO)
    plugin_logger.propagate = False
