"""Odd requests a new user sent while trying to break the API: never a 5xx."""
from __future__ import annotations

import io

from PIL import Image

from fooocus_server import GENERATE


def test_nan_and_infinite_numbers_are_a_422_naming_the_field(client):
    for raw in ('{"guidance_scale": NaN, "async_process": true}',
                '{"sharpness": 1e999, "async_process": true}'):
        reply = client.post(GENERATE, content=raw, headers={"Content-Type": "application/json"})

        assert reply.status_code == 422, raw
        assert reply.json()["detail"][0]["loc"][0] == "body"


def test_a_lone_surrogate_in_the_prompt_still_gets_a_json_reply(client):
    raw = '{"prompt": "\\ud800", "async_process": true}'

    reply = client.post(GENERATE, content=raw, headers={"Content-Type": "application/json"})

    assert reply.status_code == 200
    assert reply.json()["task_status"] == "pending"


def test_an_overlong_outputs_path_is_a_404(client):
    assert client.get("/outputs/" + "a" * 5000 + ".png").status_code == 404


def test_accept_q_values_choose_the_preferred_image_type(client):
    reply = client.post(GENERATE, json={"prompt": "x"},
                        headers={"Accept": "image/png;q=0.1, image/jpeg;q=0.9"})

    assert reply.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(reply.content)).format == "JPEG"


def test_a_type_with_q_0_is_never_chosen(client):
    reply = client.post(GENERATE, json={"prompt": "x"},
                        headers={"Accept": "image/jpeg;q=0, image/png"})

    assert reply.headers["content-type"] == "image/png"


def test_json_is_chosen_only_when_preferred(client):
    image = client.post(GENERATE, json={"prompt": "x"},
                        headers={"Accept": "image/webp, application/json;q=0.5"})
    record = client.post(GENERATE, json={"prompt": "x"},
                         headers={"Accept": "application/json, image/webp;q=0.5"})

    assert image.headers["content-type"] == "image/webp"
    assert record.json()["task_status"] == "finished"


def test_end_at_alone_bounds_the_history(client):
    client.post(GENERATE, json={"prompt": "x"})

    reply = client.get("/tasks", params={"query": "history", "end_at": "2020-01-01T00:00:00Z"})

    assert reply.status_code == 200
    assert reply.json()["history"] == []
