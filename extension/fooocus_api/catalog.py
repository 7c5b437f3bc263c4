"""What this Fooocus offers: models, LoRAs, VAEs, styles and presets.

Read from Fooocus's own configuration, so the API accepts exactly what the UI's
dropdowns list. `refresh()` re-reads the model folders (Fooocus's Refresh button).
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from .engine import Engine

NO_MODEL = "None"


class Catalog:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def refresh(self) -> None:
        self._engine.refresh_files()

    def on_miss_refresh(self, check: Callable[[], None]) -> None:
        """Run a check of names against the file lists; if it refuses one, re-read
        the model folders once (a file may have been added since) and check again."""
        try:
            check()
        except ValueError:
            self.refresh()
            check()

    @property
    def models(self) -> list[str]:
        return list(self._engine.config.model_filenames)

    @property
    def loras(self) -> list[str]:
        return list(self._engine.config.lora_filenames)

    @property
    def vaes(self) -> list[str]:
        return [self._engine.flags.default_vae, *self._engine.config.vae_filenames]

    @property
    def styles(self) -> list[str]:
        return list(importlib.import_module("modules.sdxl_styles").legal_style_names)

    @property
    def max_loras(self) -> int:
        return int(self._engine.config.default_max_lora_number)

    @property
    def presets(self) -> list[str]:
        config = self._engine.config
        if hasattr(config, "update_presets"):
            config.update_presets()
        return list(config.available_presets)

    def preset(self, name: str) -> dict[str, Any]:
        return dict(self._engine.config.try_get_preset_content(name) or {})
