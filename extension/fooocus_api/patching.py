"""Source patches (see patches/README.md): applied in memory as Fooocus imports a module."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger("fooocus_api")

PACKAGE_PATCHES = Path(__file__).resolve().parent / "patches"
REPOSITORY_PATCHES = Path(__file__).resolve().parents[2] / "patches"


class PatchMismatch(ValueError):
    pass


@dataclass(frozen=True)
class SourcePatch:
    name: str
    module: str
    why: str
    edits: tuple[tuple[str, str], ...]

    @classmethod
    def load(cls, path: Path) -> SourcePatch:
        data = json.loads(path.read_text(encoding="utf-8"))
        edits = tuple((edit["before"], edit["insert"]) for edit in data["edits"])
        return cls(data["name"], data["module"], data["why"], edits)

    def apply(self, source: str) -> str:
        for anchor, insert in self.edits:
            source = _insert_before(source, anchor.strip(), insert.strip(), self)
        return source


def _insert_before(source: str, anchor: str, insert: str, patch: SourcePatch) -> str:
    """Insert a line before the one line whose text is `anchor`, indented like it."""
    lines = source.splitlines(keepends=True)
    found = [number for number, line in enumerate(lines) if line.strip() == anchor]
    if len(found) != 1:
        raise PatchMismatch(f"patch {patch.name}: expected the line {anchor!r} once in "
                            f"{patch.module}, found it {len(found)} times")

    line = lines[found[0]]
    indent = line[:len(line) - len(line.lstrip())]
    lines.insert(found[0], indent + insert + "\n")
    return "".join(lines)


class Patches:
    """The patches for each module, and which of them took."""

    def __init__(self, patches: list[SourcePatch]) -> None:
        self._patches = patches
        self.applied: set[str] = set()

    @classmethod
    def from_folder(cls, folder: Path | None = None) -> Patches:
        folder = folder or (PACKAGE_PATCHES if PACKAGE_PATCHES.is_dir() else REPOSITORY_PATCHES)
        paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
        return cls([SourcePatch.load(path) for path in paths])

    @property
    def modules(self) -> set[str]:
        return {patch.module for patch in self._patches}

    def transform(self, module: str, source: str) -> str:
        for patch in self._patches:
            if patch.module != module:
                continue
            try:
                source = patch.apply(source)
            except PatchMismatch as mismatch:
                logger.warning("%s; Fooocus is not the 2.5.5 this patch was written for, so "
                               "the feature it enables is off", mismatch)
                continue
            self.applied.add(patch.name)
        return source


patches = Patches([])
