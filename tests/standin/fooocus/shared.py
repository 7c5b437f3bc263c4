from __future__ import annotations

from typing import Any

# webui.py stores the running gr.Blocks here.
gradio_root: Any = None
