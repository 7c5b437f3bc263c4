"""Attach the plugin to a Fooocus process that was started with the API flags.

`install.py` writes a `.pth` file that calls `activate()` in every Python
process of Fooocus's environment. It does nothing unless the process runs one of
Fooocus's entry points from the checkout the plugin is installed in, with one of
the plugin's flags on the command line; Fooocus without `--api` is untouched.
Only the standard library is imported here, so the check costs nothing.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from . import hooks, options

logger = logging.getLogger("fooocus_api")

FOOOCUS_ENTRY_POINTS = ("launch.py", "entry_with_update.py", "webui.py")

_attached = False


def activate() -> None:
    """Entry point of the `.pth` file."""
    try:
        if options.wants_api(sys.argv[1:]) and is_fooocus_entry(sys.argv[0]):
            attach()
    except Exception:  # a .pth must never stop the interpreter from starting
        logger.exception("fooocus_api: could not attach to Fooocus")


def is_fooocus_entry(script: str) -> bool:
    if not script:
        return False

    path = Path(script).resolve()
    return path.name in FOOOCUS_ENTRY_POINTS and path.parent == installed_fooocus_root()


def installed_fooocus_root() -> Path:
    """The checkout holding this package as `extensions/fooocus_api`."""
    return Path(__file__).resolve().parents[2]


def attach() -> None:
    """Make Fooocus accept the plugin's flags and serve the API once it starts."""
    global _attached
    if _attached:
        return
    _attached = True

    from . import gateway, mount, patching

    patching.patches = patching.Patches.from_folder()

    def transform(module: str, source: str) -> str:
        source = patching.patches.transform(module, source)
        return gateway.worker_source(source) if module == gateway.WORKER_MODULE else source

    hooks.after_import({
        "ldm_patched.modules.args_parser": lambda module: options.add_arguments(module.parser),
        "modules.async_worker": mount.attach_worker,
        "gradio.routes": mount.attach_gradio_routes,
        "gradio.blocks": mount.attach_gradio_blocks,
    }, transform=transform, transformed=patching.patches.modules | {gateway.WORKER_MODULE})
