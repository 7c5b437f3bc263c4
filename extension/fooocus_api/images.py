"""Input images: from base64, a data URI or an http(s) URL to the RGB array
Fooocus's UI would hand the worker, saved once by content hash for history.

Decoding and downloading block, so routes call `resolve_images` in a thread.
"""
from __future__ import annotations

import base64
import binascii
import io
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .arguments import InputImages, RequestError
from .files import FileRoots, png_bytes
from .request import GenerateRequest

MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
MAX_PIXELS = 64 * 1024 * 1024
DOWNLOAD_TIMEOUT_SECONDS = 30.0
NOT_GIVEN = ("", "None", "none", "null")

DATA_URI = re.compile(r"^data:[^,]*?(;base64)?,", re.IGNORECASE)


class ImageTooLarge(RequestError):
    """Becomes a 413."""


@dataclass
class ResolvedImages:
    arrays: InputImages
    url_paths: dict[str, Any] = field(default_factory=dict)


def resolve_images(request: GenerateRequest, files: FileRoots) -> ResolvedImages:
    """Decode every image of the request; remember each one's `/inputs/` path."""
    resolved = ResolvedImages(InputImages())
    arrays = resolved.arrays
    arrays.uov = _load("uov_input_image", request.uov_input_image, files, resolved)
    arrays.inpaint = _load("inpaint_input_image", request.inpaint_input_image, files, resolved)
    arrays.mask = _load("inpaint_mask_image_upload", request.inpaint_mask_image_upload, files,
                        resolved)
    arrays.enhance = _load("enhance_input_image", request.enhance_input_image, files, resolved)
    arrays.prompts = [
        _load(f"controlnet_image[{slot}].cn_img", prompt.cn_img, files, resolved)
        for slot, prompt in enumerate(request.controlnet_image)
    ]
    if arrays.mask is not None and arrays.inpaint is not None:
        arrays.mask = _fit_mask(arrays.mask, arrays.inpaint.shape)
    return resolved


def _load(field_name: str, source: str | None, files: FileRoots,
          resolved: ResolvedImages) -> Any:
    if source is None or source.strip() in NOT_GIVEN:
        return None

    image = decode_image(field_name, _read_bytes(field_name, source.strip()))
    resolved.url_paths[field_name] = files.save_input(png_bytes(image))
    return image


def _read_bytes(field_name: str, source: str) -> bytes:
    if source.lower().startswith(("http://", "https://")):
        return _download(field_name, source)
    return _base64_bytes(field_name, source)


def _base64_bytes(field_name: str, text: str) -> bytes:
    text = DATA_URI.sub("", text, count=1)
    text = "".join(text.split())
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, altchars=b"-_" if "-" in text or "_" in text else None,
                                validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(field_name, "is neither an http(s) URL nor valid base64") from None


def _download(field_name: str, url: str) -> bytes:
    try:
        with httpx.stream("GET", url, timeout=DOWNLOAD_TIMEOUT_SECONDS,
                          follow_redirects=True) as response:
            if response.status_code != 200:
                raise RequestError(field_name, f"{url} answered HTTP {response.status_code}")
            return _read_limited(field_name, response)
    except httpx.HTTPError as error:
        raise RequestError(field_name, f"could not download {url}: {error}") from None


def _read_limited(field_name: str, response: httpx.Response) -> bytes:
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_DOWNLOAD_BYTES:
            raise ImageTooLarge(field_name, f"is larger than {MAX_DOWNLOAD_BYTES} bytes")
    return bytes(body)


def decode_image(field_name: str, data: bytes) -> Any:
    """An RGB uint8 array, upright, as the UI would see the picture."""
    try:
        with Image.open(io.BytesIO(data)) as picture:
            if picture.width * picture.height > MAX_PIXELS:
                raise ImageTooLarge(field_name, f"has {picture.width}×{picture.height} pixels; "
                                                f"the limit is {MAX_PIXELS}")
            upright = ImageOps.exif_transpose(picture)
            return np.array(_to_rgb(upright))
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise RequestError(field_name, "is not an image PIL can read") from None


def _to_rgb(picture: Image.Image) -> Image.Image:
    if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
        picture = picture.convert("RGBA")
        background = Image.new("RGBA", picture.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, picture).convert("RGB")
    if picture.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(picture, dtype=np.float64)
        peak = 65535.0 if array.max() > 255 else 255.0
        return Image.fromarray((array / peak * 255).clip(0, 255).astype(np.uint8)).convert("RGB")
    return picture.convert("RGB")


def _fit_mask(mask: Any, shape: tuple[int, ...]) -> Any:
    height, width = shape[:2]
    if mask.shape[:2] == (height, width):
        return mask
    resized = Image.fromarray(mask).resize((width, height), Image.NEAREST)
    return np.array(resized)
