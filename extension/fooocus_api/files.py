"""Where result and input images live on disk, and their URL paths.

Results are the files Fooocus writes: `outputs/<date>/<name>` normally, or its
temp folder with `--disable-image-log`; `/outputs/...` serves whichever root
Fooocus writes to. Inputs are saved once under `outputs/inputs/`, named by the
SHA-256 of their content, and served at `/inputs/<name>`; they live inside
`outputs/` because Fooocus's .gitignore already ignores it.

Only image files are served, only from inside their root (no `..`, no absolute
paths, no symlinks leading out), so `outputs/db.sqlite3` is never reachable.
"""
from __future__ import annotations

import hashlib
import io
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

IMAGE_SUFFIXES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                  ".webp": "image/webp"}
OUTPUTS_PREFIX = "/outputs/"
INPUTS_PREFIX = "/inputs/"


@dataclass(frozen=True)
class FileRoots:
    results: Path
    inputs: Path

    def result_url_path(self, path: str | os.PathLike[str]) -> str | None:
        """`/outputs/<relative path>` for a file under the results root, else None."""
        relative = _relative_inside(Path(path), self.results)
        return OUTPUTS_PREFIX + relative.as_posix() if relative is not None else None

    def result_file(self, url_path: str) -> Path | None:
        return _existing_image_inside(self.results, url_path)

    def delete_results(self, urls: list[str]) -> list[str]:
        """Remove the result files that `urls` name under this root; the URLs whose file
        was removed. Only the part after `/outputs/` counts, so a URL of this machine
        from any time (relative, or with whatever base URL it had) finds its file."""
        removed = []
        for url in urls:
            before, prefix, relative = url.partition(OUTPUTS_PREFIX)
            path = self.result_file(relative) if prefix else None
            if path is not None:
                path.unlink(missing_ok=True)
                removed.append(url)
        return removed

    def input_file(self, name: str) -> Path | None:
        return _existing_image_inside(self.inputs, name)

    def save_result_array(self, image: Any, output_format: str) -> str:
        """Save an image Fooocus returned as an array (e.g. the grid); its URL path."""
        suffix = "jpg" if output_format == "jpeg" else output_format
        folder = self.results / time.strftime("%Y-%m-%d")
        folder.mkdir(parents=True, exist_ok=True)
        path = _unique_path(folder, time.strftime("%Y-%m-%d_%H-%M-%S"), suffix)
        Image.fromarray(image).save(path)
        return self.result_url_path(path) or ""

    def save_input(self, encoded: bytes) -> str:
        """Store an uploaded image once, as PNG named by its hash; its URL path."""
        name = hashlib.sha256(encoded).hexdigest()[:32] + ".png"
        path = self.inputs / name
        if not path.exists():
            self.inputs.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial")
            partial.write_bytes(encoded)
            partial.replace(path)
        return INPUTS_PREFIX + name


def png_bytes(image: Any) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _relative_inside(path: Path, root: Path) -> Path | None:
    try:
        return path.resolve().relative_to(root.resolve())
    except ValueError:
        return None


def _existing_image_inside(root: Path, relative: str) -> Path | None:
    if not relative or relative.startswith(("/", "\\")) or "\\" in relative or "\x00" in relative:
        return None

    candidate = root / relative
    if candidate.suffix.lower() not in IMAGE_SUFFIXES:
        return None
    try:
        if _relative_inside(candidate, root) is None or not candidate.is_file():
            return None
        return candidate.resolve()
    except OSError:  # e.g. a name longer than the file system allows
        return None


def _unique_path(folder: Path, stem: str, suffix: str) -> Path:
    number = 0
    while True:
        path = folder / f"{stem}_api{number}.{suffix}"
        if not path.exists():
            return path
        number += 1
