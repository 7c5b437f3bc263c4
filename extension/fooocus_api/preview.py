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
    picture = Image.fromarray(image)
    if picture.mode != "RGB":
        picture = picture.convert("RGB")
    factor = -(-max(picture.size) // MAX_SIDE)
    if factor > 1:
        # A preview is glanced at while sampling runs; a full 1024² JPEG costs 3-5 ms more.
        picture = picture.reduce(factor)

    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
