"""POST /v1/engine/generate/ in each reply mode, end to end over HTTP."""
from __future__ import annotations

import io
import json
import time

import httpx
from PIL import Image

from fooocus_server import GENERATE, wait_for_end


def sse_events(response: httpx.Response) -> list[dict]:
    events = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            events.append(json.loads(line[len("data: "):]))
    return events


def test_async_reply_is_a_pending_record_at_once(client):
    reply = client.post(GENERATE, json={"prompt": "a cat", "async_process": True})

    assert reply.status_code == 200
    record = reply.json()
    assert record["task_status"] == "pending"
    assert len(record["task_id"]) == 32
    assert record["req_params"]["prompt"] == "a cat"


def test_async_task_ends_finished_with_urls_that_fetch_its_images(client):
    task_id = client.post(GENERATE, json={"prompt": "a cat", "image_number": 2,
                                          "async_process": True}).json()["task_id"]

    record = wait_for_end(client, task_id)

    assert record["task_status"] == "finished"
    assert record["progress"] == 100
    assert len(record["result"]) == 2
    for url in record["result"]:
        image = httpx.get(url)
        assert image.status_code == 200
        assert Image.open(io.BytesIO(image.content)).format == "PNG"


def test_stream_reply_sends_one_event_per_update_and_ends_with_image_urls(client):
    body = {"prompt": "a cat", "image_number": 1, "stream_output": True}

    with client.stream("POST", GENERATE, json=body) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        events = sse_events(reply)

    assert len(events) > 3
    assert all(set(event) >= {"progress", "preview", "message", "images"} for event in events)
    assert [event["images"] for event in events[:-1]] == [[]] * (len(events) - 1)
    assert events[-1]["message"] == "Finished"
    assert len(events[-1]["images"]) == 1
    assert httpx.get(events[-1]["images"][0]).status_code == 200
    progress = [event["progress"] for event in events]
    assert progress == sorted(progress)


def test_stream_previews_are_jpeg_data_uris(client):
    body = {"prompt": "a cat", "image_number": 1, "stream_output": True}

    with client.stream("POST", GENERATE, json=body) as reply:
        previews = [event["preview"] for event in sse_events(reply) if event["preview"]]

    assert previews, "the stand-in sends a preview every step"
    assert all(preview.startswith("data:image/jpeg;base64,") for preview in previews)


def test_binary_reply_is_one_image_in_the_output_format(client):
    reply = client.post(GENERATE, json={"prompt": "a cat", "image_number": 3,
                                        "output_format": "webp"})

    assert reply.status_code == 200
    assert reply.headers["content-type"] == "image/webp"
    assert Image.open(io.BytesIO(reply.content)).format == "WEBP"


def test_binary_reply_follows_the_accept_header(client):
    reply = client.post(GENERATE, json={"prompt": "a cat"}, headers={"Accept": "image/jpeg"})

    assert reply.status_code == 200
    assert reply.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(reply.content)).format == "JPEG"


def test_binary_reply_forces_a_single_image(client, server):
    client.post(GENERATE, json={"prompt": "one only", "image_number": 4})

    history = client.get("/tasks", params={"query": "history", "page_size": 1}).json()["history"]
    assert history[0]["req_params"]["prompt"] == "one only"
    assert len(history[0]["result"]) == 1


def test_accept_json_without_async_or_stream_waits_and_returns_the_finished_record(client):
    reply = client.post(GENERATE, json={"prompt": "a cat"}, headers={"Accept": "application/json"})

    assert reply.status_code == 200
    assert reply.json()["task_status"] == "finished"
    assert len(reply.json()["result"]) == 1


def test_running_task_shows_progress_and_its_latest_preview(server):
    with server.client() as client:
        task_id = client.post(GENERATE, json={"prompt": "slow", "image_number": 1,
                                              "overwrite_step": 40,
                                              "async_process": True}).json()["task_id"]
        deadline = time.monotonic() + 20
        record = client.get(f"/tasks/{task_id}").json()
        while not (record["task_status"] == "running" and record["preview"]):
            assert time.monotonic() < deadline, record
            time.sleep(0.05)
            record = client.get(f"/tasks/{task_id}").json()

        assert 0 < record["progress"] < 100
        assert record["preview"].startswith("data:image/jpeg;base64,")
        wait_for_end(client, task_id)


def test_worker_exception_ends_the_task_failed_with_the_error(client):
    task_id = client.post(GENERATE, json={"prompt": "standin:raise",
                                          "async_process": True}).json()["task_id"]

    record = wait_for_end(client, task_id)

    assert record["task_status"] == "failed"
    assert "stand-in failure requested" in record["error"]


def test_binary_reply_of_a_failed_task_is_a_422_naming_the_error(client):
    reply = client.post(GENERATE, json={"prompt": "standin:raise"})

    assert reply.status_code == 422
    assert "stand-in failure requested" in reply.json()["detail"]
    assert reply.json()["task"]["task_status"] == "failed"


def test_unknown_task_is_a_404_json_error(client):
    reply = client.get("/tasks/0123456789abcdef0123456789abcdef")

    assert reply.status_code == 404
    assert "0123456789abcdef0123456789abcdef" in reply.json()["detail"]


def test_result_urls_use_the_host_the_client_asked(server):
    with server.client() as client:
        reply = client.post(GENERATE, json={"prompt": "a cat"},
                            headers={"Accept": "application/json", "Host": "example.test:9000"})

    assert reply.json()["result"][0].startswith("http://example.test:9000/outputs/")


def test_gradio_page_still_answers_beside_the_api(client):
    page = client.get("/")

    assert page.status_code == 200
    assert "gradio" in page.text.lower()


def test_bad_field_is_a_422_naming_the_field_and_allowed_values(client):
    reply = client.post(GENERATE, json={"prompt": "a cat", "performance_selection": "Turbo"})

    assert reply.status_code == 422
    detail = reply.json()["detail"][0]
    assert detail["loc"] == ["body", "performance_selection"]
    assert "Speed" in detail["allowed"]
