"""The Gradio UI and the API feed one worker: each waits behind the other."""
from __future__ import annotations

import threading

import httpx
import pytest

from fooocus_server import GENERATE, start_server, wait_for_end, wait_until


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory):
    """Steps of 50 ms, 12 per image: a UI generation of 2 images takes over a second."""
    running = start_server(tmp_path_factory.mktemp("slow"),
                           env={"FOOOCUS_STANDIN_STEP_SECONDS": "0.05",
                                "FOOOCUS_STANDIN_STEPS": "12"})
    yield running
    running.stop()


def click_generate_in_the_ui(server, prompt: str) -> dict:
    """What the page's Generate button does, through Gradio's own HTTP route."""
    reply: dict = {}

    def run() -> None:
        answer = httpx.post(f"{server.url}/run/generate", json={"data": [None, prompt]}, timeout=60)
        reply.update(status=answer.status_code, body=answer.json())

    thread = threading.Thread(target=run)
    thread.start()
    reply["thread"] = thread
    return reply


def test_an_api_task_waits_behind_a_running_ui_generation(slow_server):
    with slow_server.client() as client:
        ui = click_generate_in_the_ui(slow_server, "from the ui")
        current = wait_until(lambda: client.get("/tasks", params={"query": "current"}
                                                ).json()["current"])
        assert current[0]["source"] == "ui"
        assert current[0]["req_params"]["prompt"] == "from the ui"

        task_id = client.post(GENERATE, json={"prompt": "from the api", "image_number": 1,
                                              "async_process": True}).json()["task_id"]
        waiting = client.get(f"/tasks/{task_id}").json()
        assert waiting["task_status"] == "pending"
        assert waiting["position"] == 1

        record = wait_for_end(client, task_id)
        ui["thread"].join(timeout=30)

    assert record["task_status"] == "finished"
    assert record["start_mills"] >= current[0]["start_mills"]
    assert ui["status"] == 200
    assert len(ui["body"]["data"][0]) == 2


def test_a_ui_generation_waits_behind_a_running_api_task(slow_server):
    with slow_server.client() as client:
        task_id = client.post(GENERATE, json={"prompt": "api first", "image_number": 2,
                                              "async_process": True}).json()["task_id"]
        wait_until(lambda: client.get(f"/tasks/{task_id}").json()["task_status"] == "running")

        ui = click_generate_in_the_ui(slow_server, "ui second")
        pending = wait_until(lambda: client.get("/tasks", params={"query": "pending"}
                                                ).json()["pending"])
        assert pending[0]["source"] == "ui"
        assert pending[0]["position"] == 1

        api_record = wait_for_end(client, task_id)
        ui["thread"].join(timeout=30)
        # The UI hears 'finish' from Fooocus's worker; the record follows a moment later.
        newest = wait_until(lambda: next(iter(
            record for record in client.get("/tasks", params={"query": "history",
                                                              "page_size": 2}).json()["history"]
            if record["source"] == "ui"), None))

    assert api_record["task_status"] == "finished"
    assert ui["status"] == 200
    assert (newest["source"], newest["task_status"]) == ("ui", "finished")
    assert len(newest["result"]) == 2
