"""Security: the API key on every API route, no way into the local network through
image or webhook URLs, no file outside the image folders, and size limits."""
from __future__ import annotations

import base64
import http.client
import io
import re
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image

from fooocus_server import GENERATE, REPOSITORY, FooocusServer, start_server, wait_for_end

KEY = "security-key"
WITH_KEY = {"X-API-KEY": KEY}
MAX_PIXELS = 10_000
MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
FAST = {"FOOOCUS_STANDIN_STEP_SECONDS": "0.01", "FOOOCUS_STANDIN_STEPS": "2"}


def png(width: int, height: int, colour: tuple[int, int, int] = (200, 30, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


SERVED_PNG = png(64, 64)


# -- an image host of our own ------------------------------------------------------------------

class ImageHost:
    """Serves /x.png, /huge.png (over the download limit) and /redirect?to=URL; counts hits."""

    def __init__(self, address: str) -> None:
        self.hits: Counter[str] = Counter()
        self.http = ThreadingHTTPServer((address, 0), _image_handler(self))
        self.http.daemon_threads = True
        self.address = address
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://{self.address}:{self.http.server_port}{path}"

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def _image_handler(host: ImageHost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            host.hits[path] += 1
            try:
                if path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", parse_qs(urlsplit(self.path).query)["to"][0])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif path == "/huge.png":
                    self._send_huge()
                else:
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.send_header("Content-Length", str(len(SERVED_PNG)))
                    self.end_headers()
                    self.wfile.write(SERVED_PNG)
            except OSError:
                pass  # the API stopped reading, as it should past its limit

        def _send_huge(self) -> None:
            size = MAX_DOWNLOAD_BYTES + 1024 * 1024
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            chunk = SERVED_PNG + bytes(1024 * 1024 - len(SERVED_PNG))
            for _ in range(size // len(chunk)):
                self.wfile.write(chunk)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


# -- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def forbidden_host() -> Iterator[ImageHost]:
    """On 127.0.0.1, which no server here allows: the API must never reach it."""
    host = ImageHost("127.0.0.1")
    yield host
    host.close()


@pytest.fixture(scope="module")
def allowed_host() -> Iterator[ImageHost]:
    """On 127.0.0.2, which `keyed_server` allows with --api-allow-hosts."""
    host = ImageHost("127.0.0.2")
    yield host
    host.close()


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FooocusServer]:
    running = start_server(tmp_path_factory.mktemp("keyed"), env=FAST, headers=WITH_KEY,
                           flags=["--api-key", KEY, "--api-allow-hosts", "127.0.0.2",
                                  "--api-max-body-mb", "1", "--api-max-pixels", str(MAX_PIXELS)])
    yield running
    running.stop()


@pytest.fixture(scope="module")
def public_files_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FooocusServer]:
    """--api-key with --api-public-files, and no --api-allow-hosts."""
    running = start_server(tmp_path_factory.mktemp("public"), env=FAST, headers=WITH_KEY,
                           flags=["--api-key", KEY, "--api-public-files"])
    yield running
    running.stop()


@pytest.fixture
def keyed(keyed_server: FooocusServer) -> Iterator[httpx.Client]:
    with keyed_server.client(headers=WITH_KEY) as client:
        yield client


@pytest.fixture
def public(public_files_server: FooocusServer) -> Iterator[httpx.Client]:
    with public_files_server.client(headers=WITH_KEY) as client:
        yield client


def finished_task(client: httpx.Client, **body: Any) -> dict:
    reply = client.post(GENERATE, json={"prompt": "a cat", "image_number": 1,
                                        "async_process": True, **body})
    assert reply.status_code == 200, reply.text
    record = wait_for_end(client, reply.json()["task_id"])
    assert record["task_status"] == "finished", record
    return record


def refused_field(reply: httpx.Response) -> list[str]:
    return reply.json()["detail"][0]["loc"]


# -- the API key -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def api_only_app() -> Iterator[Any]:
    """The API-only app, built in this process over a service that holds only its options."""
    sys.path.insert(0, str(REPOSITORY / "extension"))
    from fooocus_api import mount, service
    from fooocus_api.options import APIOptions

    saved = service._service
    service._service = SimpleNamespace(options=APIOptions(enabled=True, key=KEY))
    try:
        yield mount.api_app()
    finally:
        service._service = saved


def concrete_path(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "probe.png", template)


def test_every_route_of_the_api_app_wants_the_key(api_only_app):
    from starlette.testclient import TestClient

    client = TestClient(api_only_app, raise_server_exceptions=False)
    checked, open_routes = [], []
    for route in api_only_app.routes:
        path = concrete_path(route.path)
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            reply = client.request(method, path)
            checked.append(f"{method} {path}")
            if reply.status_code != 401 or "X-API-KEY" not in reply.json()["detail"]:
                open_routes.append(f"{method} {path} -> {reply.status_code}")

    assert open_routes == []
    assert {"POST /v1/engine/generate/", "GET /tasks", "GET /outputs/probe.png",
            "GET /inputs/probe.png", "GET /docs", "GET /openapi.json",
            "GET /v1/openapi.json"} <= set(checked)


@pytest.mark.parametrize("method, path", [
    ("POST", GENERATE), ("GET", "/tasks"), ("GET", "/tasks/0123456789abcdef"),
    ("DELETE", "/tasks/0123456789abcdef"), ("POST", "/v1/engine/control"),
    ("GET", "/outputs/2024-01-01/x.png"), ("GET", "/inputs/x.png"), ("GET", "/docs"),
    ("GET", "/openapi.json"), ("GET", "/v1/openapi.json"),
])
def test_api_route_without_the_key_is_a_401_json_error(keyed_server, method, path):
    reply = httpx.request(method, keyed_server.url + path)

    assert reply.status_code == 401
    assert "X-API-KEY" in reply.json()["detail"]


def test_gradio_page_answers_without_the_key(keyed_server):
    page = httpx.get(keyed_server.url + "/")

    assert page.status_code == 200
    assert "gradio" in page.text.lower()


def test_history_database_is_not_served_by_gradios_file_route(keyed_server, keyed):
    finished_task(keyed)
    outputs = keyed_server.checkout / "outputs"

    served = [name for name in ("db.sqlite3", "db.sqlite3-wal")
              if httpx.get(f"{keyed_server.url}/file={outputs / name}").status_code == 200]

    assert served == []


@pytest.fixture(scope="module")
def public_task(public_files_server: FooocusServer) -> dict:
    with public_files_server.client(headers=WITH_KEY) as client:
        return finished_task(client, uov_method="Vary (Subtle)",
                             uov_input_image=base64.b64encode(png(32, 32)).decode())


def test_public_files_serve_results_without_the_key(public_task):
    reply = httpx.get(public_task["result"][0])

    assert reply.status_code == 200
    assert Image.open(io.BytesIO(reply.content)).format == "PNG"


def test_public_files_serve_inputs_without_the_key(public_task):
    reply = httpx.get(public_task["req_params"]["uov_input_image"])

    assert "/inputs/" in public_task["req_params"]["uov_input_image"]
    assert reply.status_code == 200
    assert Image.open(io.BytesIO(reply.content)).size == (32, 32)


@pytest.mark.parametrize("method, path", [
    ("GET", "/tasks"), ("GET", "/tasks/{task_id}"), ("POST", GENERATE), ("GET", "/docs"),
])
def test_public_files_still_guard_the_rest_of_the_api(public_files_server, public_task,
                                                     method, path):
    url = public_files_server.url + path.format(task_id=public_task["task_id"])

    assert httpx.request(method, url).status_code == 401


# -- outbound URLs: no way into the local network ----------------------------------------------

INTERNAL_URLS = {
    "loopback": "http://127.0.0.1:{port}/x.png",
    "ipv6-loopback": "http://[::1]:{port}/x.png",
    "private": "http://10.1.2.3/x.png",
    "cloud-metadata": "http://169.254.169.254/latest/meta-data/x.png",
    "name-for-loopback": "http://localhost:{port}/x.png",
}


@pytest.mark.parametrize("field", ["uov_input_image", "webhook_url"])
@pytest.mark.parametrize("target", INTERNAL_URLS)
def test_internal_address_is_refused_naming_the_field(public, forbidden_host, field, target):
    url = INTERNAL_URLS[target].format(port=forbidden_host.http.server_port)
    body = {"prompt": "a cat", "async_process": True, field: url}
    if field == "uov_input_image":
        body["uov_method"] = "Vary (Subtle)"

    reply = public.post(GENERATE, json=body)

    assert reply.status_code == 422, reply.text
    assert refused_field(reply) == ["body", field]
    assert "--api-allow-hosts" in reply.json()["detail"][0]["msg"]
    assert forbidden_host.hits["/x.png"] == 0


def test_redirect_from_an_allowed_host_to_an_internal_address_is_refused(keyed, allowed_host,
                                                                        forbidden_host):
    target = forbidden_host.url("/x.png")
    body = {"prompt": "a cat", "async_process": True, "uov_method": "Vary (Subtle)",
            "uov_input_image": allowed_host.url(f"/redirect?to={target}")}

    reply = keyed.post(GENERATE, json=body)

    assert reply.status_code == 422, reply.text
    assert refused_field(reply) == ["body", "uov_input_image"]
    assert allowed_host.hits["/redirect"] >= 1
    assert forbidden_host.hits["/x.png"] == 0


def test_image_from_an_allowed_local_host_is_used_and_saved_under_inputs(keyed, keyed_server,
                                                                         allowed_host):
    record = finished_task(keyed, uov_method="Vary (Subtle)",
                           uov_input_image=allowed_host.url("/x.png"))

    saved_url = record["req_params"]["uov_input_image"]
    assert re.fullmatch(re.escape(keyed_server.url) + r"/inputs/[0-9a-f]{32}\.png", saved_url)
    saved = keyed.get(saved_url)
    assert saved.status_code == 200
    assert Image.open(io.BytesIO(saved.content)).tobytes() == \
           Image.open(io.BytesIO(SERVED_PNG)).tobytes()
    assert (keyed_server.checkout / "outputs" / "inputs" / saved_url.rsplit("/", 1)[1]).is_file()


def test_download_over_the_size_limit_is_a_413_naming_the_field(keyed, allowed_host):
    body = {"prompt": "a cat", "async_process": True, "uov_method": "Vary (Subtle)",
            "uov_input_image": allowed_host.url("/huge.png")}

    reply = keyed.post(GENERATE, json=body)

    assert reply.status_code == 413, reply.text
    assert refused_field(reply) == ["body", "uov_input_image"]


# -- files: images inside their folders, nothing else ------------------------------------------

@pytest.fixture(scope="module")
def planted(keyed_server: FooocusServer) -> dict[str, str]:
    """A real result, and a PNG outside outputs/ reachable by a symlink placed inside it."""
    with keyed_server.client(headers=WITH_KEY) as client:
        result = finished_task(client)["result"][0]
    outputs = keyed_server.checkout / "outputs"
    outside = keyed_server.checkout / "outside.png"
    outside.write_bytes(png(8, 8))
    (outputs / "link.png").symlink_to(outside)
    return {"result_path": urlsplit(result).path, "outside": str(outside)}


def raw_get(server: FooocusServer, path: str) -> tuple[int, bytes]:
    """GET a path exactly as written: no client-side normalisation of `..` or `%2f`."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("GET", path, headers=WITH_KEY)
        reply = connection.getresponse()
        return reply.status, reply.read()
    finally:
        connection.close()


TRAVERSALS = [
    "/outputs/../db.sqlite3",
    "/outputs/%2e%2e/db.sqlite3",
    "/outputs/..%2fdb.sqlite3",
    "/outputs/db.sqlite3",
    "/outputs/../outside.png",
    "/outputs/%2e%2e/outside.png",
    "/outputs/..%2foutside.png",
    "/outputs/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc/passwd",
    "/outputs/{outside}",
    "/outputs/{outside_quoted}",
    "/outputs/link.png",
    "/inputs/../../etc/passwd",
    "/inputs/..%2f..%2fetc%2fpasswd",
    "/inputs/..%2f..%2foutside.png",
    "/inputs/%2e%2e",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_outside_the_image_folders_is_a_404(keyed_server, planted, path):
    outside = planted["outside"]
    path = path.format(outside=outside, outside_quoted=outside.replace("/", "%2f"))

    status, body = raw_get(keyed_server, path)

    assert status == 404, body[:100]
    assert not body.startswith((b"SQLite", b"\x89PNG")) and b"root:" not in body


def test_result_image_is_served(keyed_server, planted):
    status, body = raw_get(keyed_server, planted["result_path"])

    assert status == 200
    assert Image.open(io.BytesIO(body)).format == "PNG"


# -- size limits -------------------------------------------------------------------------------

def test_body_over_the_limit_is_a_413(keyed):
    reply = keyed.post(GENERATE, json={"prompt": "x" * (1024 * 1024 + 1), "async_process": True})

    assert reply.status_code == 413
    assert "larger than" in reply.json()["detail"]


def test_chunked_body_over_the_limit_is_a_413(keyed):
    def chunks() -> Iterator[bytes]:
        yield b'{"async_process": true, "prompt": "'
        for _ in range(17):
            yield b"x" * 65536
        yield b'"}'

    reply = keyed.post(GENERATE, content=chunks(), headers={"Content-Type": "application/json"})

    assert reply.status_code == 413
    assert "larger than" in reply.json()["detail"]


def test_image_over_the_pixel_limit_is_a_413_naming_the_field(keyed):
    too_large = base64.b64encode(png(101, 100)).decode()
    body = {"prompt": "a cat", "async_process": True, "uov_method": "Vary (Subtle)",
            "uov_input_image": too_large}

    reply = keyed.post(GENERATE, json=body)

    assert reply.status_code == 413, reply.text
    assert refused_field(reply) == ["body", "uov_input_image"]
    assert str(MAX_PIXELS) in reply.json()["detail"][0]["msg"]


# -- binary replies ----------------------------------------------------------------------------

@pytest.mark.parametrize("media_type, pil_format, output_format", [
    ("image/png", "PNG", "webp"), ("image/jpeg", "JPEG", "png"), ("image/webp", "WEBP", "png"),
])
def test_binary_reply_in_the_accepted_format_is_a_decodable_image(keyed, media_type, pil_format,
                                                                  output_format):
    reply = keyed.post(GENERATE, json={"prompt": "a cat", "output_format": output_format},
                       headers={"Accept": media_type})

    assert reply.status_code == 200
    assert reply.headers["content-type"] == media_type
    assert len(reply.content) > 0
    image = Image.open(io.BytesIO(reply.content))
    image.load()
    assert image.format == pil_format
