"""A worker preview image, encoded at most once and never on the event loop."""
from __future__ import annotations

import asyncio
import base64
import io
import logging
import threading
from typing import Any

import numpy as np
from PIL import Image

logger = logging.getLogger("fooocus_api")

JPEG_QUALITY = 85
MAX_SIDE = 384


class Preview:
    def __init__(self, image: Any) -> None:
        self._image = image
        self._data_uri: str | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_data_uri(cls, data_uri: str) -> Preview:
        """A preview that another node has encoded already."""
        preview = cls(None)
        preview._data_uri = data_uri
        return preview

    def data_uri(self) -> str | None:
        """The preview as a JPEG data URI, or None when the image cannot be encoded (a
        preview is only shown, so its task goes on without it); blocking, so call it
        from a thread."""
        with self._lock:
            if self._image is not None:
                self._data_uri = _encoded_or_none(self._image)
                self._image = None
            return self._data_uri

    async def encoded(self) -> str | None:
        if self._image is None:
            return self._data_uri
        return await asyncio.to_thread(self.data_uri)


_encode_failed = threading.Event()


def _encoded_or_none(image: Any) -> str | None:
    try:
        return _encode(image)
    except Exception as error:  # whatever the worker yielded, it must not stop the task
        # Every step of a task may yield one: the first is a warning, later ones detail.
        level = logging.DEBUG if _encode_failed.is_set() else logging.WARNING
        _encode_failed.set()
        logger.log(level, "a preview image could not be encoded and is left out: %s (%r); "
                   "further ones are logged at DEBUG", error,
                   getattr(image, "shape", type(image).__name__))
        return None


def _encode(image: Any) -> str:
    picture = _scaled_down(image)
    if picture.mode != "RGB":
        picture = picture.convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _scaled_down(image: Any) -> Image.Image:
    """At most MAX_SIDE pixels a side, taking the nearest pixel.

    A preview is glanced at while sampling runs, so the nearest pixel will do.
    Fooocus's previews are a quarter of the image's side, so those of its
    standard sizes (up to 1536 px) pass unscaled. A larger H×W×3 frame is read
    in place through a row stride, unpacking only the rows that can be kept,
    which keeps a 1024² frame near 1.5 ms on the way to every stream."""
    array = np.asarray(image)
    height, width = array.shape[:2]
    longest = max(height, width)
    if longest <= MAX_SIDE:
        return Image.fromarray(array)
    size = tuple(max(1, round(side * MAX_SIDE / longest)) for side in (width, height))
    return _every_nth_row(array, height // size[1]).resize(size, Image.NEAREST)


def _every_nth_row(array: np.ndarray, step: int) -> Image.Image:
    if step < 2:
        return Image.fromarray(array)
    height, width = array.shape[:2]
    rows = -(-height // step)
    if array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3 \
            and array.flags.c_contiguous:
        return Image.frombuffer("RGB", (width, rows), array, "raw", "RGB", width * 3 * step, 1)
    return Image.fromarray(np.ascontiguousarray(array[::step]))
