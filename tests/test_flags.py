"""The plugin's command-line flags, each on a Fooocus of its own."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from fooocus_server import REPOSITORY, free_port, standin_checkout, start_server

KEY = "s3cret-key"


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory):
    port = free_port()
    running = start_server(tmp_path_factory.mktemp("keyed"),
                           flags=["--api-key", KEY, "--api-port", str(port)],
                           headers={"X-API-KEY": KEY})
    running.api_port = port
    yield running
    running.stop()


def test_api_key_is_required_on_api_routes(keyed_server):
    missing = httpx.get(keyed_server.url + "/tasks")
    wrong = httpx.get(keyed_server.url + "/tasks", headers={"X-API-KEY": "nope"})
    right = httpx.get(keyed_server.url + "/tasks", headers={"X-API-KEY": KEY})

    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert "X-API-KEY" in missing.json()["detail"]


def test_api_key_leaves_the_gradio_page_alone(keyed_server):
    assert httpx.get(keyed_server.url + "/").status_code == 200


def test_api_port_serves_the_api_alone(keyed_server):
    api_only = f"http://127.0.0.1:{keyed_server.api_port}"

    tasks = httpx.get(api_only + "/tasks", headers={"X-API-KEY": KEY}, timeout=10)
    page = httpx.get(api_only + "/", timeout=10)

    assert tasks.status_code == 200
    assert page.status_code == 404


def test_api_port_runs_tasks_on_the_same_worker(keyed_server):
    api_only = f"http://127.0.0.1:{keyed_server.api_port}"

    reply = httpx.post(api_only + "/v1/engine/generate/", json={"prompt": "via the api port"},
                       headers={"X-API-KEY": KEY, "Accept": "application/json"}, timeout=60)

    assert reply.json()["task_status"] == "finished"
    assert reply.json()["result"][0].startswith(api_only + "/outputs/")
    shared = httpx.get(keyed_server.url + "/tasks/" + reply.json()["task_id"],
                       headers={"X-API-KEY": KEY})
    assert shared.json()["task_status"] == "finished"


def test_docs_describe_only_the_api(keyed_server):
    schema = httpx.get(keyed_server.url + "/v1/openapi.json", headers={"X-API-KEY": KEY}).json()

    assert "/v1/engine/generate/" in schema["paths"]
    assert not any(path.startswith("/run/") for path in schema["paths"])
    assert httpx.get(keyed_server.url + "/docs").status_code == 401


def test_nowebui_serves_the_api_without_the_ui(tmp_path):
    server = start_server(tmp_path, flags=["--nowebui"])
    try:
        page = httpx.get(server.url + "/")
        reply = httpx.post(server.url + "/v1/engine/generate/", json={"prompt": "no ui"},
                           headers={"Accept": "application/json"}, timeout=60)
    finally:
        server.stop()

    assert page.status_code == 404
    assert reply.json()["task_status"] == "finished"


def test_api_base_url_sets_the_base_of_result_urls(tmp_path):
    server = start_server(tmp_path, flags=["--api-base-url", "https://images.example.org/f/"])
    try:
        reply = httpx.post(server.url + "/v1/engine/generate/", json={"prompt": "x"},
                           headers={"Accept": "application/json"}, timeout=60)
    finally:
        server.stop()

    assert reply.json()["result"][0].startswith("https://images.example.org/f/outputs/")


def test_fooocus_help_lists_the_api_flags(tmp_path):
    checkout = standin_checkout(tmp_path)

    run = subprocess.run([sys.executable, str(REPOSITORY / "launch_api.py"),
                          "--fooocus-dir", str(checkout), "--help"],
                         capture_output=True, text=True, timeout=60)

    assert "--fooocus-dir" in run.stdout
    assert "--api-key" in run.stdout


def test_disable_image_log_still_serves_results_from_fooocus_temp_folder(tmp_path):
    server = start_server(tmp_path, flags=["--disable-image-log"])
    try:
        record = httpx.post(server.url + "/v1/engine/generate/", json={"prompt": "no log"},
                            headers={"Accept": "application/json"}, timeout=60).json()
        image = httpx.get(record["result"][0], timeout=10)
    finally:
        server.stop()

    assert record["task_status"] == "finished"
    assert image.status_code == 200
    assert not list((server.checkout / "outputs").glob("*/*.png"))


# -- history in PostgreSQL ------------------------------------------------------------------

def start_failure(folder: Path, flags: list[str], env: dict[str, str] | None = None) -> str:
    """The log of a server that must exit at start."""
    with pytest.raises(RuntimeError, match="server exited with 2") as failed:
        start_server(folder, flags=flags, env=env)
    return str(failed.value)


def test_an_unreachable_database_stops_fooocus_with_one_error_naming_the_url(tmp_path):
    port = free_port()

    log = start_failure(tmp_path, ["--api-database-url",
                                   f"postgresql://fooocus:s3cret@127.0.0.1:{port}/history"])

    plugin_lines = [line for line in log.splitlines() if line.startswith("[API]")]
    assert f"postgresql://fooocus:***@127.0.0.1:{port}/history" in plugin_lines[-1]
    assert "Fooocus stops" in plugin_lines[-1]
    assert not any("s3cret" in line for line in plugin_lines)  # Fooocus logs its argv itself
    assert "Traceback" not in log


def test_a_database_url_without_psycopg_says_what_to_install(tmp_path):
    shadow = tmp_path / "no-psycopg"
    (shadow / "psycopg").mkdir(parents=True)
    (shadow / "psycopg" / "__init__.py").write_text("raise ImportError('psycopg is absent')\n")

    log = start_failure(tmp_path, ["--api-database-url", "postgresql://fooocus@127.0.0.1:1/h"],
                        env={"PYTHONPATH": str(shadow)})

    assert "requirements-cluster.txt" in log
    assert "Traceback" not in log


def test_history_out_of_reach_at_run_time_is_a_503_naming_the_database(tmp_path, postgres):
    url = postgres.new_database()
    server = start_server(tmp_path, flags=["--api-database-url", url])
    try:
        postgres.drop_database(url)
        listing = httpx.get(server.url + "/tasks", params={"query": "history"}, timeout=60)
        single = httpx.get(server.url + "/tasks/no-such-task", timeout=60)
    finally:
        server.stop()

    for reply in (listing, single):
        assert reply.status_code == 503
        assert url in reply.json()["detail"]
