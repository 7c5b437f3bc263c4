"""A worker preview becomes a small JPEG data URI, encoded once."""
from __future__ import annotations

import asyncio
import base64
import io
import logging
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "extension"))
from fooocus_api import preview as preview_module  # noqa: E402
from fooocus_api.preview import MAX_SIDE, Preview  # noqa: E402
from fooocus_api.task import Task  # noqa: E402
from fooocus_server import wait_until  # noqa: E402


def decoded(data_uri: str) -> Image.Image:
    prefix = "data:image/jpeg;base64,"
    assert data_uri.startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(data_uri[len(prefix):])))


def test_a_large_preview_is_scaled_to_at_most_max_side_keeping_its_shape():
    image = np.zeros((768, 1024, 3), dtype=np.uint8)

    picture = decoded(Preview(image).data_uri())

    assert picture.format == "JPEG"
    assert picture.size == (MAX_SIDE, MAX_SIDE * 3 // 4)


def test_the_preview_of_a_standard_fooocus_size_is_sent_at_its_own_size():
    # Fooocus previews at a quarter of the image's side: 1536x640 gives 384x160.
    image = np.zeros((160, 384, 3), dtype=np.uint8)

    assert decoded(Preview(image).data_uri()).size == (384, 160)


def test_scaling_down_keeps_rows_and_columns_in_order_and_their_colours():
    # Each row has its own red and each column its own green, so a pixel tells where it came from.
    rows, columns = np.meshgrid(np.arange(1000), np.arange(1200), indexing="ij")
    image = np.stack([rows // 4, columns // 5, np.full_like(rows, 128)], axis=-1).astype(np.uint8)

    picture = np.asarray(decoded(Preview(image).data_uri()).convert("RGB")).astype(int)

    reds, greens = picture[:, picture.shape[1] // 2, 0], picture[picture.shape[0] // 2, :, 1]
    assert picture.shape[:2] == (round(1000 * MAX_SIDE / 1200), MAX_SIDE)
    assert np.all(np.diff(reds[4:-4]) >= -6) and reds[0] < 12 and reds[-1] > 235
    assert np.all(np.diff(greens[4:-4]) >= -6) and greens[0] < 12 and greens[-1] > 225
    assert abs(int(np.median(picture[:, :, 2])) - 128) <= 3


def test_a_large_grey_rgba_or_non_contiguous_preview_is_scaled_too():
    wide = np.zeros((900, 1800, 3), dtype=np.uint8)
    for image in (np.zeros((900, 1800), dtype=np.uint8), np.zeros((900, 1800, 4), dtype=np.uint8),
                  wide[:, ::2]):
        picture = decoded(Preview(image).data_uri())
        assert picture.mode == "RGB" and max(picture.size) == MAX_SIDE


def test_a_small_preview_keeps_its_size_and_its_colours():
    image = np.full((64, 48, 3), (200, 40, 10), dtype=np.uint8)

    picture = decoded(Preview(image).data_uri()).convert("RGB")

    assert picture.size == (48, 64)
    assert all(abs(a - b) <= 3 for a, b in zip(picture.getpixel((20, 30)), (200, 40, 10)))


def test_a_grey_or_rgba_preview_becomes_rgb_jpeg():
    for image in (np.zeros((40, 40), dtype=np.uint8), np.zeros((40, 40, 4), dtype=np.uint8)):
        assert decoded(Preview(image).data_uri()).mode == "RGB"


def test_the_preview_is_encoded_once_and_the_array_let_go():
    preview = Preview(np.zeros((600, 600, 3), dtype=np.uint8))

    first = preview.data_uri()

    assert preview.data_uri() is first
    assert preview._image is None


def test_a_preview_that_cannot_be_encoded_is_left_out_and_nothing_raises(caplog, monkeypatch):
    monkeypatch.setattr(preview_module, "_encode_failed", threading.Event())
    caplog.set_level(logging.DEBUG, logger="fooocus_api")
    preview = Preview(np.zeros((0, 0, 3), dtype=np.uint8))

    assert preview.data_uri() is None
    assert preview.data_uri() is None
    assert "could not be encoded" in caplog.text


def test_only_the_first_preview_that_cannot_be_encoded_is_a_warning(caplog, monkeypatch):
    monkeypatch.setattr(preview_module, "_encode_failed", threading.Event())
    caplog.set_level(logging.DEBUG, logger="fooocus_api")

    for _ in range(3):
        Preview(np.zeros((0, 0, 3), dtype=np.uint8)).data_uri()

    levels = [record.levelname for record in caplog.records if "encoded" in record.message]
    assert levels == ["WARNING", "DEBUG", "DEBUG"]


def test_a_stream_waiting_on_a_task_whose_preview_cannot_be_encoded_gets_the_update_without_it():
    # The worker thread encodes while a stream waits; a bad image must not reach Fooocus's worker.
    task = Task(fooocus_task=SimpleNamespace(yields=[]))
    woke = threading.Event()

    def stream() -> None:
        asyncio.run(task.changed.wait(task.changed.version))
        woke.set()

    waiting = threading.Thread(target=stream)
    waiting.start()
    assert wait_until(lambda: task.changed.awaited, timeout=5)

    task.report(40, "Sampling step 2/5 ...", np.zeros((0, 0, 3), dtype=np.uint8))

    waiting.join(timeout=5)
    assert woke.is_set()
    [update] = task.updates_since(0)
    assert (update.progress, update.preview.data_uri()) == (40, None)
