"""Where the API meets a running Fooocus: its worker, its Gradio app, its launch.

- `attach_worker`: when Fooocus imports `modules.async_worker`, the API starts
  and taps the worker's queue.
- `attach_gradio_routes`: every FastAPI app Gradio creates gets the API routes,
  so the UI and the API answer on one host and port.
- `attach_gradio_blocks`: `Blocks.launch()` also starts the `--api-port`
  server; with `--nowebui` it serves the API alone instead of the UI.
"""
from __future__ import annotations

import gc
import logging
import threading
from types import ModuleType
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from . import __version__, service
from .auth import require_key
from .engine import Engine
from .limits import BodyLimit
from .history import HistoryUnavailable
from .node_control import NodeUnresponsive
from .redis_link import ClusterUnavailable
from .routes.common import error_reply, history_unavailable_reply, validation_error_reply
from .routes import api_router
from .routes.docs import docs_router

logger = logging.getLogger("fooocus_api")

DEFAULT_PORT = 7865


def attach_worker(worker_module: ModuleType) -> None:
    api = service.start(Engine())
    api.tasks.attach(worker_module)


def attach_gradio_routes(routes_module: ModuleType) -> None:
    create_app = routes_module.App.create_app

    def create_app_with_api(blocks: Any, app_kwargs: dict[str, Any] | None = None) -> Any:
        app = create_app(blocks, app_kwargs=app_kwargs)
        mount_api(app)
        return app

    routes_module.App.create_app = staticmethod(create_app_with_api)


def attach_gradio_blocks(blocks_module: ModuleType) -> None:
    launch = blocks_module.Blocks.launch

    def launch_with_api(blocks: Any, *args: Any, **kwargs: Any) -> Any:
        options = service.current().options
        host = kwargs.get("server_name") or "127.0.0.1"
        # Everything imported so far lives as long as Fooocus; keeping it out of the
        # collector's full passes avoids pauses of 100-200 ms in replies.
        gc.freeze()
        if options.nowebui:
            port = kwargs.get("server_port") or _gradio_port()
            logger.info("serving the API without the web UI on http://%s:%d", host, port)
            return serve_api(host, port)
        if options.port is not None:
            _serve_api_in_background(host, options.port)
        kwargs["blocked_paths"] = [*(kwargs.get("blocked_paths") or []), *private_paths()]
        return launch(blocks, *args, **kwargs)

    blocks_module.Blocks.launch = launch_with_api


def private_paths() -> list[str]:
    """Files under outputs/ that Gradio's /file= route must not hand out: Fooocus lets
    Gradio serve all of outputs/, which is where history and inputs live."""
    api = service.current()
    # Always the SQLite file, even when history is in PostgreSQL: one may be left there.
    database = str(api.engine.outputs_dir / service.HISTORY_FILE)
    return [database, database + "-wal", database + "-shm", str(api.files.inputs)]


def mount_api(app: FastAPI) -> None:
    if getattr(app.state, "fooocus_api_mounted", False):
        return
    app.state.fooocus_api_mounted = True
    # FastAPI's own /openapi.json would list the API without asking for the key;
    # the docs router serves the API's schema in its place, behind the key.
    app.router.routes = [route for route in app.router.routes
                         if getattr(route, "path", None) != "/openapi.json"]
    app.add_middleware(BodyLimit, max_bytes=lambda: service.current().options.max_body_bytes)
    app.add_exception_handler(RequestValidationError, validation_error_reply)
    app.add_exception_handler(ClusterUnavailable, _replying(503))
    app.add_exception_handler(NodeUnresponsive, _replying(504))
    app.add_exception_handler(HistoryUnavailable, history_unavailable_reply)
    app.include_router(api_router(), dependencies=_key_dependencies())
    app.include_router(docs_router(), dependencies=_key_dependencies())


def _replying(status_code: int) -> Any:
    """An exception handler answering `status_code` with the exception's message."""
    async def reply(request: Any, error: Exception) -> Any:
        return error_reply(status_code, str(error))

    return reply


def api_app() -> FastAPI:
    """The API alone, for `--api-port` and `--nowebui`."""
    app = FastAPI(title="Fooocus REST API", version=__version__, docs_url=None,
                  redoc_url=None, openapi_url=None)
    mount_api(app)
    return app


def serve_api(host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(api_app(), host=host, port=port, log_level="warning")


def _serve_api_in_background(host: str, port: int) -> None:
    logger.info("serving the API alone on http://%s:%d as well", host, port)
    threading.Thread(target=serve_api, args=(host, port), name="fooocus_api-port",
                     daemon=True).start()


def _key_dependencies() -> list[Any]:
    from fastapi import Depends

    return [Depends(require_key)]


def _gradio_port() -> int:
    import os

    return int(os.environ.get("GRADIO_SERVER_PORT", DEFAULT_PORT))
