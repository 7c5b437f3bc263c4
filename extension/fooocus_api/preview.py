"""A worker preview image, encoded at most once and never on the event loop."""
from __future__ import annotations

import asyncio
import base64
import io
import threading
from typing import Any

from PIL import Image

JPEG_QUALITY = 85
MAX_SIDE = 512


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

    def data_uri(self) -> str:
        """The preview as a JPEG data URI; blocking, so call it from a thread."""
        with self._lock:
            if self._data_uri is None:
                self._data_uri = _encode(self._image)
                self._image = None
            return self._data_uri

    async def encoded(self) -> str:
        if self._data_uri is not None:
            return self._data_uri
        return await asyncio.to_thread(self.data_uri)


def _encode(image: Any) -> str:
    picture = _scaled_down(Image.fromarray(image))
    if picture.mode != "RGB":
        picture = picture.convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _scaled_down(picture: Image.Image) -> Image.Image:
    """At most MAX_SIDE pixels a side. A preview is glanced at while sampling runs,
    so the nearest pixel will do: it costs a fraction of a millisecond where
    averaging (or encoding a full 1024² JPEG) cost milliseconds on the way to
    every stream."""
    longest = max(picture.size)
    if longest <= MAX_SIDE:
        return picture
    width, height = (max(1, round(side * MAX_SIDE / longest)) for side in picture.size)
    return picture.resize((width, height), Image.NEAREST)
