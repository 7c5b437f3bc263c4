"""Canceling pending tasks, Stop and Skip, and queue positions, for API and UI tasks."""
from __future__ import annotations

import sqlite3
import threading
import uuid
from urllib.parse import urlsplit

import httpx
import pytest

from fooocus_server import (FooocusServer, GENERATE, empty_the_queue, start_server, wait_for_end,
                            wait_until)

CONTROL = "/v1/engine/control"
UNKNOWN_TASK = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """Steps of 50 ms; a UI generation (2 images of 40 steps) runs for about 4 s.

    API tasks choose their own length with `overwrite_step`.
    """
    running = start_server(tmp_path_factory.mktemp("control"),
                           env={"FOOOCUS_STANDIN_STEP_SECONDS": "0.05",
                                "FOOOCUS_STANDIN_STEPS": "40"})
    yield running
    running.stop()


@pytest.fixture
def client(server: FooocusServer):
    with server.client() as http:
        yield http
        empty_the_queue(http)


# -- helpers --------------------------------------------------------------------------------

def unique(prompt: str) -> str:
    return f"{prompt} {uuid.uuid4().hex[:8]}"


def submit(client: httpx.Client, prompt: str, steps: int, **fields: object) -> str:
    body = {"prompt": unique(prompt), "image_number": 1, "overwrite_step": steps,
            "async_process": True, **fields}
    reply = client.post(GENERATE, json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()["task_id"]


def wait_sampling(client: httpx.Client, task_id: str) -> dict:
    """The task's record once it runs and has sent its first step's preview."""
    def sampling() -> dict | None:
        record = client.get(f"/tasks/{task_id}").json()
        return record if record["task_status"] == "running" and record["preview"] else None

    return wait_until(sampling)


def status(client: httpx.Client, task_id: str) -> str:
    return client.get(f"/tasks/{task_id}").json()["task_status"]


def image_files(server: FooocusServer) -> set[str]:
    """Every result image on disk, relative to outputs/ (the worker writes each one there)."""
    outputs = server.checkout / "outputs"
    return {path.relative_to(outputs).as_posix() for path in outputs.rglob("*")
            if path.suffix in (".png", ".jpg", ".jpeg", ".webp")
            and path.parent.name != "inputs"}


def stored_status(server: FooocusServer, task_id: str) -> str | None:
    with sqlite3.connect(server.checkout / "outputs" / "db.sqlite3", timeout=10) as database:
        row = database.execute("SELECT task_status FROM tasks WHERE task_id = ?",
                               (task_id,)).fetchone()
    database.close()
    return row[0] if row else None


def click_generate_in_the_ui(server: FooocusServer, prompt: str) -> dict:
    """What the page's Generate button does; it blocks until the generation ends."""
    reply: dict = {}

    def run() -> None:
        answer = httpx.post(f"{server.url}/run/generate", json={"data": [None, prompt]},
                            timeout=60)
        reply.update(status=answer.status_code, body=answer.json())

    reply["thread"] = threading.Thread(target=run, daemon=True)
    reply["thread"].start()
    return reply


def ui_task_in(client: httpx.Client, query: str, prompt: str) -> dict | None:
    listing = client.get("/tasks", params={"query": query}).json()[query]
    return next((task for task in listing if task["source"] == "ui"
                 and task["req_params"]["prompt"] == prompt), None)


# -- canceling ------------------------------------------------------------------------------

def test_canceling_a_pending_api_task_marks_it_canceled_and_it_never_starts(client, server):
    images_before = image_files(server)
    running = submit(client, "runs first", steps=20)
    pending = submit(client, "canceled while waiting", steps=2)
    wait_sampling(client, running)

    reply = client.delete(f"/tasks/{pending}")
    after = submit(client, "queued after the cancel", steps=2)

    assert reply.status_code == 200
    assert reply.json()["task_status"] == "canceled"
    ran = [wait_for_end(client, task_id) for task_id in (running, after)]
    assert [record["task_status"] for record in ran] == ["finished", "finished"]
    record = client.get(f"/tasks/{pending}").json()
    assert (record["task_status"], record["start_mills"], record["result"]) == (
        "canceled", None, [])
    assert image_files(server) - images_before == {
        urlsplit(url).path.removeprefix("/outputs/") for task in ran for url in task["result"]}
    wait_until(lambda: stored_status(server, pending) == "canceled")


def test_canceling_a_running_task_is_a_409(client):
    running = submit(client, "too late to cancel", steps=200)
    wait_sampling(client, running)

    reply = client.delete(f"/tasks/{running}")

    assert reply.status_code == 409
    assert status(client, running) == "running"


def test_canceling_an_unknown_task_is_a_404(client):
    reply = client.delete(f"/tasks/{UNKNOWN_TASK}")

    assert reply.status_code == 404
    assert UNKNOWN_TASK in reply.json()["detail"]


def test_canceling_a_pending_ui_task_ends_it_and_releases_the_ui(client, server):
    running = submit(client, "api holds the worker", steps=200)
    wait_sampling(client, running)
    prompt = unique("ui canceled while waiting")
    ui = click_generate_in_the_ui(server, prompt)
    waiting = wait_until(lambda: ui_task_in(client, "pending", prompt))

    reply = client.delete(f"/tasks/{waiting['task_id']}")
    ui["thread"].join(timeout=10)

    assert reply.status_code == 200
    assert not ui["thread"].is_alive(), "the UI's Generate call still waits"
    assert ui["status"] == 200
    assert status(client, waiting["task_id"]) == "canceled"
    assert status(client, running) == "running"


# -- stop and skip --------------------------------------------------------------------------

def test_stop_ends_a_running_api_task_stopped(client):
    running = submit(client, "stopped", steps=200, image_number=2)
    wait_sampling(client, running)

    reply = client.post(CONTROL, json={"action": "stop", "task_id": running})

    assert reply.status_code == 200
    assert wait_for_end(client, running)["task_status"] == "stopped"


def test_skip_of_a_single_image_task_ends_it_skipped(client):
    running = submit(client, "skipped", steps=200)
    wait_sampling(client, running)

    reply = client.post(CONTROL, json={"action": "skip", "task_id": running})

    assert reply.status_code == 200
    record = wait_for_end(client, running)
    assert (record["task_status"], record["result"]) == ("skipped", [])


def test_skip_during_the_first_of_two_images_finishes_with_the_second(client):
    running = submit(client, "first image skipped", steps=40, image_number=2)
    wait_until(lambda: "image 1/2" in wait_sampling(client, running)["message"])

    reply = client.post(CONTROL, json={"action": "skip", "task_id": running})

    assert reply.status_code == 200
    record = wait_for_end(client, running)
    assert record["task_status"] == "finished"
    assert len(record["result"]) == 1


def test_control_naming_a_task_that_is_not_running_is_a_409(client):
    running = submit(client, "keeps running", steps=200)
    pending = submit(client, "not running yet", steps=2)
    wait_sampling(client, running)

    reply = client.post(CONTROL, json={"action": "stop", "task_id": pending})

    assert reply.status_code == 409
    assert (status(client, running), status(client, pending)) == ("running", "pending")


def test_control_with_nothing_running_is_a_409(client):
    wait_until(lambda: not client.get("/tasks", params={"query": "current"}).json()["current"])

    reply = client.post(CONTROL, json={"action": "stop"})

    assert reply.status_code == 409


def test_control_action_other_than_stop_or_skip_is_a_422(client):
    reply = client.post(CONTROL, json={"action": "pause"})

    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["body", "action"]


def test_stop_from_the_api_stops_a_running_ui_generation(client, server):
    prompt = unique("ui stopped from the api")
    ui = click_generate_in_the_ui(server, prompt)
    running = wait_until(lambda: ui_task_in(client, "current", prompt))

    reply = client.post(CONTROL, json={"action": "stop"})
    ui["thread"].join(timeout=10)

    assert reply.status_code == 200
    assert reply.json()["task_id"] == running["task_id"]
    assert not ui["thread"].is_alive()
    record = wait_until(lambda: next(
        (task for task in client.get("/tasks", params={"query": "history"}).json()["history"]
         if task["task_id"] == running["task_id"]), None))
    assert (record["task_status"], record["source"]) == ("stopped", "ui")


# -- positions ------------------------------------------------------------------------------

def test_pending_tasks_show_their_position_in_queue_order(client):
    running = submit(client, "ahead of the queue", steps=200)
    waiting = [submit(client, f"waiting {number}", steps=2) for number in range(3)]
    wait_sampling(client, running)

    positions = [client.get(f"/tasks/{task_id}").json()["position"] for task_id in waiting]
    pending = client.get("/tasks", params={"query": "pending"}).json()["pending"]

    assert positions == [1, 2, 3]
    assert [(task["task_id"], task["position"]) for task in pending] == list(
        zip(waiting, [1, 2, 3]))
