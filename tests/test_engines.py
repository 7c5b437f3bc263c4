"""Listings of models, styles and presets; the describe and mask tools; presets and names."""
from __future__ import annotations

import base64
import io

from PIL import Image

from fooocus_server import GENERATE


def png_base64(width: int = 32, height: int = 24) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_all_models_lists_checkpoints_and_loras(client):
    listing = client.get("/v1/engines/all-models").json()

    assert "juggernautXL_v8Rundiffusion.safetensors" in listing["model_filenames"]
    assert "sdxl_lightning_4step_lora.safetensors" in listing["lora_filenames"]


def test_all_models_re_reads_the_model_folders(client, server):
    (server.checkout / "models" / "checkpoints" / "added_later.safetensors").write_bytes(b"")

    listing = client.get("/v1/engines/all-models").json()

    assert "added_later.safetensors" in listing["model_filenames"]


def test_styles_and_presets_are_listed(client):
    assert "Fooocus V2" in client.get("/v1/engines/styles").json()
    assert {"default", "lightning", "anime"} <= set(client.get("/v1/engines/presets").json())


def test_describe_image_returns_fooocus_description(client):
    reply = client.post("/v1/tools/describe-image", json={"image": png_base64(32, 24)})

    assert reply.status_code == 200
    assert reply.json() == {"describe": "a stand-in photograph of 32x24 pixels"}


def test_describe_image_anime_uses_the_tagger(client):
    reply = client.post("/v1/tools/describe-image",
                        json={"image": png_base64(), "image_type": "Anime"})

    assert reply.json() == {"describe": "stand-in, anime, tags"}


def test_generate_mask_returns_a_base64_png_of_the_image_size(client):
    reply = client.post("/v1/tools/generate_mask", json={"image": png_base64(40, 20),
                                                         "mask_model": "u2net"})

    mask = Image.open(io.BytesIO(base64.b64decode(reply.json())))
    assert mask.size == (40, 20)


def test_tool_with_a_bad_image_is_a_422(client):
    reply = client.post("/v1/tools/describe-image", json={"image": "bm90IGFuIGltYWdl"})

    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["body", "image"]


def test_unknown_model_is_a_422_listing_the_models(client):
    reply = client.post(GENERATE, json={"base_model_name": "nope.safetensors"})

    detail = reply.json()["detail"][0]
    assert reply.status_code == 422
    assert detail["loc"] == ["body", "base_model_name"]
    assert "juggernautXL_v8Rundiffusion.safetensors" in detail["allowed"]


def test_unknown_lora_style_and_vae_are_422s_naming_the_field(client):
    cases = {("loras", "0", "model_name"): {"loras": [{"model_name": "missing.safetensors"}]},
             ("style_selections",): {"style_selections": ["No Such Style"]},
             ("vae_name",): {"vae_name": "missing_vae.safetensors"}}

    for location, body in cases.items():
        reply = client.post(GENERATE, json=body)
        assert reply.status_code == 422, body
        assert tuple(reply.json()["detail"][0]["loc"][1:]) == location


def test_unknown_preset_is_a_422_listing_the_presets(client):
    reply = client.post(GENERATE, json={"preset": "nope"})

    assert reply.status_code == 422
    assert "lightning" in reply.json()["detail"][0]["allowed"]


def test_preset_supplies_what_the_request_leaves_out(client):
    reply = client.post(GENERATE, json={"preset": "lightning", "async_process": True})

    params = reply.json()["req_params"]
    assert params["performance_selection"] == "Lightning"


def test_a_field_the_request_sets_wins_over_the_preset_even_when_it_is_the_default(client):
    reply = client.post(GENERATE, json={"preset": "lightning", "performance_selection": "Speed",
                                        "async_process": True})

    assert reply.json()["req_params"]["performance_selection"] == "Speed"


def test_a_preset_whose_checkpoint_is_not_on_disk_is_a_422_naming_the_file(client):
    reply = client.post(GENERATE, json={"preset": "playground_v2.5", "async_process": True})

    assert reply.status_code == 422
    detail = reply.json()["detail"][0]
    assert detail["loc"] == ["body", "preset"]
    assert "playground-v2.5-1024px-aesthetic.fp16.safetensors" in detail["msg"]


def test_a_request_that_names_its_own_checkpoint_can_use_that_preset(client):
    reply = client.post(GENERATE, json={"preset": "playground_v2.5", "async_process": True,
                                        "base_model_name": "juggernautXL_v8Rundiffusion.safetensors",
                                        "scheduler_name": "karras"})

    assert reply.status_code == 200, reply.text
    assert reply.json()["req_params"]["guidance_scale"] == 2.0


def test_a_checkpoint_added_after_start_is_found_without_a_refresh(server, client):
    added = server.checkout / "models" / "checkpoints" / "added_while_running.safetensors"
    added.touch()
    try:
        reply = client.post(GENERATE, json={"base_model_name": added.name, "async_process": True})
    finally:
        added.unlink()

    assert reply.status_code == 200, reply.text
