"""Image inputs pick Fooocus's tab; custom upscale and outpaint distances work."""
from __future__ import annotations

import base64
import io

import httpx
import pytest
from PIL import Image

from fooocus_server import GENERATE


def png_base64(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 150)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def result_size(client: httpx.Client, body: dict) -> tuple[int, int]:
    reply = client.post(GENERATE, json=body)
    assert reply.status_code == 200, reply.text
    return Image.open(io.BytesIO(reply.content)).size


@pytest.mark.parametrize("method, size", [("Upscale (1.5x)", (60, 36)), ("Upscale (2x)", (80, 48)),
                                          ("Upscale (Fast 2x)", (80, 48))])
def test_fooocus_upscale_methods_keep_their_factor(client, method, size):
    body = {"uov_method": method, "uov_input_image": png_base64(40, 24)}

    assert result_size(client, body) == size


def test_custom_upscale_uses_upscale_multiple(client):
    body = {"uov_method": "Upscale (Custom)", "upscale_multiple": 3.0,
            "uov_input_image": png_base64(40, 24)}

    assert result_size(client, body) == (120, 72)


def test_upscale_multiple_is_bounded(client):
    reply = client.post(GENERATE, json={"uov_method": "Upscale (Custom)", "upscale_multiple": 9,
                                        "uov_input_image": png_base64(40, 24)})

    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["body", "upscale_multiple"]


def test_outpaint_distance_grows_the_canvas_by_those_pixels(client):
    body = {"inpaint_input_image": png_base64(40, 24), "outpaint_distance": [10, 0, 6, 4]}

    assert result_size(client, body) == (56, 28)


def test_outpaint_selections_without_distance_grow_by_fooocus_30_percent(client):
    body = {"inpaint_input_image": png_base64(40, 20), "outpaint_selections": ["Left", "Top"],
            "outpaint_distance": [0, 0, 8, 0]}

    assert result_size(client, body) == (40 + 12 + 8, 20 + 6)


def test_negative_outpaint_distance_is_a_422(client):
    reply = client.post(GENERATE, json={"inpaint_input_image": png_base64(40, 24),
                                        "outpaint_distance": [-1, 0, 0, 0]})

    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"][:2] == ["body", "outpaint_distance"]
