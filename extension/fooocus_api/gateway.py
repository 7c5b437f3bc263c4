"""A cluster gateway runs no Fooocus worker, so it loads no model.

Fooocus starts its worker thread in the last statement of `modules.async_worker`,
and the thread's first act is to import the default pipeline, which loads the
checkpoint. A gateway (`--nowebui --api-cluster-role gateway`) only accepts,
routes and streams, so on a gateway that statement is left out of the module's
source as Fooocus imports it. Every other node runs the module unchanged.
"""
from __future__ import annotations

import importlib
import logging
import re

from .console import configure_logging
from .options import APIOptions

logger = logging.getLogger("fooocus_api")

WORKER_MODULE = "modules.async_worker"
WORKER_START = re.compile(r"^threading\.Thread\(target=worker\b.*\)\.start\(\)[ \t]*$",
                          re.MULTILINE)
LEFT_OUT = "pass  # fooocus_api: a cluster gateway starts no worker thread"


def worker_source(source: str) -> str:
    """Fooocus's worker module as this node should run it."""
    if runs_worker():
        return source
    configure_logging()  # this runs before the service starts, which would do it
    starts = WORKER_START.findall(source)
    if len(starts) != 1:
        logger.warning("cluster gateway: found %d worker-thread starts in %s where 2.5.5 has "
                       "one; the worker runs (and loads its models) though it takes no task",
                       len(starts), WORKER_MODULE)
        return source
    logger.info("cluster gateway: Fooocus's worker thread is not started; no model is loaded")
    return WORKER_START.sub(LEFT_OUT, source)


def runs_worker() -> bool:
    """Read from Fooocus's parsed command line, which `modules.config` has imported by now."""
    return APIOptions.from_args(importlib.import_module("args_manager").args).runs_worker
