"""A worker preview becomes a small JPEG data URI, encoded once."""
from __future__ import annotations

import base64
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "extension"))
from fooocus_api.preview import MAX_SIDE, Preview  # noqa: E402


def decoded(data_uri: str) -> Image.Image:
    prefix = "data:image/jpeg;base64,"
    assert data_uri.startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(data_uri[len(prefix):])))


def test_a_large_preview_is_scaled_to_at_most_max_side_keeping_its_shape():
    image = np.zeros((768, 1024, 3), dtype=np.uint8)

    picture = decoded(Preview(image).data_uri())

    assert picture.format == "JPEG"
    assert picture.size == (MAX_SIDE, 384)


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
