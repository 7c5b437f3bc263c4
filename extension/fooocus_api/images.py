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
from .outbound import OutboundPolicy, OutboundRefused
from .request import GenerateRequest

MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
DOWNLOAD_TIMEOUT_SECONDS = 30.0
NOT_GIVEN = ("", "None", "none", "null")

DATA_URI = re.compile(r"^data:[^,]*?(;base64)?,", re.IGNORECASE)


class ImageTooLarge(RequestError):
    """Becomes a 413."""


@dataclass(frozen=True)
class ImageSources:
    """Where input images may come from, and how large they may be."""

    files: FileRoots
    policy: OutboundPolicy = OutboundPolicy()
    max_pixels: int = 40_000_000


@dataclass
class ResolvedImages:
    arrays: InputImages
    url_paths: dict[str, Any] = field(default_factory=dict)


def resolve_images(request: GenerateRequest, sources: ImageSources) -> ResolvedImages:
    """Decode every image of the request; remember each one's `/inputs/` path."""
    resolved = ResolvedImages(InputImages())
    arrays = resolved.arrays

    def load(field_name: str, source: str | None) -> Any:
        return _load(field_name, source, sources, resolved)

    arrays.uov = load("uov_input_image", request.uov_input_image)
    arrays.inpaint = load("inpaint_input_image", request.inpaint_input_image)
    arrays.mask = load("inpaint_mask_image_upload", request.inpaint_mask_image_upload)
    arrays.enhance = load("enhance_input_image", request.enhance_input_image)
    arrays.prompts = [load(f"controlnet_image[{slot}].cn_img", prompt.cn_img)
                      for slot, prompt in enumerate(request.controlnet_image)]
    if arrays.mask is not None and arrays.inpaint is not None:
        arrays.mask = _fit_mask(arrays.mask, arrays.inpaint.shape)
    return resolved


def _load(field_name: str, source: str | None, sources: ImageSources,
          resolved: ResolvedImages) -> Any:
    if source is None or source.strip() in NOT_GIVEN:
        return None

    data = read_image_bytes(field_name, source.strip(), sources.policy)
    image = decode_image(field_name, data, sources.max_pixels)
    resolved.url_paths[field_name] = sources.files.save_input(png_bytes(image))
    return image


def read_image_bytes(field_name: str, source: str, policy: OutboundPolicy) -> bytes:
    if source.lower().startswith(("http://", "https://")):
        return _download(field_name, source, policy)
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


def _download(field_name: str, url: str, policy: OutboundPolicy) -> bytes:
    try:
        with policy.stream("GET", url, DOWNLOAD_TIMEOUT_SECONDS) as response:
            if response.status_code != 200:
                raise RequestError(field_name, f"{url} answered HTTP {response.status_code}")
            return _read_limited(field_name, response)
    except OutboundRefused as refusal:
        raise RequestError(field_name, str(refusal)) from None
    except httpx.HTTPError as error:
        raise RequestError(field_name, f"could not download {url}: {error}") from None


def _read_limited(field_name: str, response: httpx.Response) -> bytes:
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_DOWNLOAD_BYTES:
            raise ImageTooLarge(field_name, f"is larger than {MAX_DOWNLOAD_BYTES} bytes")
    return bytes(body)


def decode_image(field_name: str, data: bytes, max_pixels: int) -> Any:
    """An RGB uint8 array, upright, as the UI would see the picture."""
    try:
        with Image.open(io.BytesIO(data)) as picture:
            if picture.width * picture.height > max_pixels:
                raise ImageTooLarge(field_name, f"has {picture.width}×{picture.height} pixels; "
                                                f"the limit is {max_pixels}")
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
