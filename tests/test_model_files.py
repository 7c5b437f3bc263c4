"""Nothing is downloaded inside a request: a missing model file is a 422 naming it.

Each case removes the one file Fooocus 2.5.5 would fetch for that kind of task
from a server's own models folder, and expects the request to be refused before
it is queued; with the file back, the same request runs.
"""
from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from fooocus_server import GENERATE, start_server
from test_arguments import fooocus_targets, task_attributes


def png_base64(width: int = 32, height: int = 32, colour: tuple[int, int, int] = (90, 120, 150)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


WHITE_MASK = png_base64(colour=(255, 255, 255))

CASES = {
    "upscale": ({"uov_method": "Upscale (2x)", "uov_input_image": png_base64()},
                "upscale_models/fooocus_upscaler_s409985e5.bin", "uov_method"),
    "custom upscale": ({"uov_method": "Upscale (Custom)", "upscale_multiple": 3.0,
                        "uov_input_image": png_base64()},
                       "upscale_models/fooocus_upscaler_s409985e5.bin", "uov_method"),
    "inpaint patch": ({"inpaint_input_image": png_base64(), "inpaint_mask_image_upload": WHITE_MASK},
                      "inpaint/inpaint_v26.fooocus.patch", "inpaint_engine"),
    "inpaint v1 patch": ({"inpaint_input_image": png_base64(), "outpaint_selections": ["Left"],
                          "inpaint_engine": "v1"},
                         "inpaint/inpaint.fooocus.patch", "inpaint_engine"),
    "inverted empty mask": ({"inpaint_input_image": png_base64(), "invert_mask_checkbox": True},
                            "inpaint/inpaint_v26.fooocus.patch", "inpaint_engine"),
    "enhance upscaler": ({"enhance_input_image": png_base64(),
                          "enhance_ctrls": [{"enhance_enabled": True, "enhance_mask_model": "u2net"}]},
                         "upscale_models/fooocus_upscaler_s409985e5.bin", "enhance_ctrls"),
    "outpaint upscaler": ({"inpaint_input_image": png_base64(), "outpaint_distance": [8, 0, 0, 0]},
                          "upscale_models/fooocus_upscaler_s409985e5.bin", "inpaint_input_image"),
    "canny": ({"controlnet_image": [{"cn_img": None}, {"cn_img": png_base64(), "cn_type": "PyraCanny"}]},
              "controlnet/control-lora-canny-rank128.safetensors", "controlnet_image"),
    "cpds": ({"controlnet_image": [{"cn_img": png_base64(), "cn_type": "CPDS"}]},
             "controlnet/fooocus_xl_cpds_128.safetensors", "controlnet_image"),
    "image prompt": ({"controlnet_image": [{"cn_img": png_base64(), "cn_type": "ImagePrompt"}]},
                     "clip_vision/clip_vision_vit_h.safetensors", "controlnet_image"),
    "face swap": ({"controlnet_image": [{"cn_img": png_base64(), "cn_type": "FaceSwap"}]},
                  "controlnet/detection_Resnet50_Final.pth", "controlnet_image"),
    "enhance mask": ({"enhance_input_image": png_base64(),
                      "enhance_ctrls": [{"enhance_enabled": True, "enhance_mask_model": "u2net"}]},
                     "inpaint/u2net.onnx", "enhance_ctrls"),
    "enhance sam": ({"enhance_input_image": png_base64(),
                     "enhance_ctrls": [{"enhance_enabled": True, "enhance_mask_model": "sam",
                                        "enhance_mask_sam_model": "vit_l"}]},
                    "sam/sam_vit_l_0b3195.pth", "enhance_ctrls"),
    "lightning lora": ({"performance_selection": "Lightning"},
                       "loras/sdxl_lightning_4step_lora.safetensors", "performance_selection"),
    "safety checker": ({"black_out_nsfw": True},
                       "safety_checker/stable-diffusion-safety-checker.bin", "black_out_nsfw"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    models = tmp_path_factory.mktemp("models")
    server = start_server(tmp_path_factory.mktemp("fooocus"),
                          env={"FOOOCUS_STANDIN_MODELS": str(models)})
    server.models = models
    yield server
    server.stop()


@pytest.fixture
def client(server):
    with server.client() as client:
        yield client


@pytest.fixture
def without(server):
    """Take one model file away for the length of a test."""
    taken: list[tuple[Path, Path]] = []

    def take(relative: str) -> Path:
        path = server.models / relative
        aside = path.with_name(path.name + ".aside")
        path.rename(aside)
        taken.append((aside, path))
        return path

    yield take
    for aside, path in taken:
        aside.rename(path)


@pytest.mark.parametrize("case", CASES)
def test_a_task_needing_a_missing_model_file_is_refused_naming_it(client, without, case):
    body, relative, field = CASES[case]
    missing = without(relative)

    recorded_before = client.get("/tasks", params={"page_size": 100}).json()["history"]

    reply = client.post(GENERATE, json={**body, "async_process": True})

    assert reply.status_code == 422, reply.text
    detail = reply.json()["detail"][0]
    assert detail["loc"] == ["body", field]
    assert str(missing) in detail["msg"]
    listing = client.get("/tasks", params={"page_size": 100}).json()
    assert listing["history"] == recorded_before and not listing["current"] + listing["pending"]


@pytest.mark.parametrize("case", CASES)
def test_with_the_model_file_in_place_the_same_task_runs(client, case):
    body, _, _ = CASES[case]

    reply = client.post(GENERATE, json=body)

    assert reply.status_code == 200, reply.text


def test_a_task_that_loads_no_extra_model_ignores_missing_ones(client, without):
    without("upscale_models/fooocus_upscaler_s409985e5.bin")
    without("inpaint/inpaint_v26.fooocus.patch")

    assert client.post(GENERATE, json={"prompt": "a house"}).status_code == 200
    # Vary loads no upscaler; an inpaint image without mask or outpaint loads no patch.
    assert client.post(GENERATE, json={"uov_method": "Vary (Subtle)",
                                       "uov_input_image": png_base64()}).status_code == 200
    assert client.post(GENERATE, json={"inpaint_input_image": png_base64()}).status_code == 200
    # Fooocus inverts before it looks: an inverted all-white mask paints nothing.
    assert client.post(GENERATE, json={"inpaint_input_image": png_base64(),
                                       "inpaint_mask_image_upload": WHITE_MASK,
                                       "invert_mask_checkbox": True}).status_code == 200


def test_describe_needs_its_interrogator(client, without):
    missing = without("clip_vision/wd-v1-4-moat-tagger-v2.onnx")

    reply = client.post("/v1/tools/describe-image", json={"image": png_base64(),
                                                          "image_type": "Anime"})

    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["body", "image_type"]
    assert str(missing) in reply.json()["detail"][0]["msg"]
    assert client.post("/v1/tools/describe-image", json={"image": png_base64(),
                                                         "image_type": "Photo"}).status_code == 200


def test_generate_mask_needs_its_mask_model(client, without):
    missing = without("sam/sam_vit_h_4b8939.pth")

    reply = client.post("/v1/tools/generate_mask", json={"image": png_base64(), "mask_model": "sam",
                                                        "sam_model": "vit_h"})

    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["body", "sam_model"]
    assert str(missing) in reply.json()["detail"][0]["msg"]
    assert client.post("/v1/tools/generate_mask", json={"image": png_base64(),
                                                        "mask_model": "u2net"}).status_code == 200


@pytest.mark.parametrize("fooocus_dir, python", fooocus_targets())
def test_the_rules_read_fooocus_own_asynctask(fooocus_dir, python):
    """Fooocus's AsyncTask (real 2.5.5 when FOOOCUS_DIR is set) carries every
    attribute the rules read; each case needs the file its test removes."""
    # Custom upscale needs the run-time patch, which the probe does not apply.
    cases = {case: spec for case, spec in CASES.items()
             if spec[0].get("uov_method") != "Upscale (Custom)"}

    tasks = task_attributes(fooocus_dir, python, [body for body, _, _ in cases.values()], [])

    for (case, (_, relative, field)), task in zip(cases.items(), tasks):
        assert [field, Path(relative).name] in task["model_files"], case
