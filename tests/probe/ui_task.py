"""The AsyncTask the Gradio UI would build, next to the one the API builds, as JSON.

    python ui_task.py FOOOCUS_DIR PROMPT SEED [Fooocus flags ...]

Imports Fooocus's webui.py with `launch()` made a no-op and its worker thread not
started, reads the default value of every control in webui's `ctrls` list (what
Generate sends when only the prompt was typed), and builds an AsyncTask from it;
then builds one from the API request {"prompt": PROMPT, "image_seed": SEED}.
Prints {"ui": attributes, "api": attributes}.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from task_attributes import PLUGIN_PARENT, _import_worker_without_its_thread, _plain  # noqa: E402


def main() -> None:
    fooocus_dir, prompt, seed, *flags = sys.argv[1:]
    os.chdir(fooocus_dir)
    sys.path[0:0] = [fooocus_dir, str(PLUGIN_PARENT)]
    sys.argv = ["launch.py", *flags]

    worker = _import_worker_without_its_thread()
    import modules.config

    modules.config.update_files()
    ui_values = _ui_defaults(prompt, int(seed))

    from fooocus_api.arguments import InputImages, build_arguments
    from fooocus_api.engine import Engine
    from fooocus_api.request import GenerateRequest

    request = GenerateRequest(prompt=prompt, image_seed=int(seed))
    api_values = build_arguments(request, InputImages(), Engine()).values
    json.dump({"ui": _attributes(worker.AsyncTask(args=ui_values)),
               "api": _attributes(worker.AsyncTask(args=list(api_values)))}, sys.stdout)


def _ui_defaults(prompt: str, seed: int) -> list:
    import gradio

    gradio.Blocks.launch = lambda *args, **kwargs: None
    import webui

    if not hasattr(webui, "ctrls"):  # the stand-in's page has no controls, only their defaults
        return webui.default_ctrls(prompt, seed)
    values = []
    for control in webui.ctrls[1:]:  # ctrls[0] is the currentTask state
        if control is webui.prompt:
            values.append(prompt)
        elif control is webui.image_seed:
            values.append(str(seed))  # what refresh_seed leaves in the seed textbox
        else:
            values.append(control.value)
    return values


def _attributes(task) -> dict:
    return {name: _plain(value) for name, value in vars(task).items() if name != "args"}


if __name__ == "__main__":
    main()
